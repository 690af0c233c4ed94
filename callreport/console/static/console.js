// The summary's "Calls per day" chart: answered and missed stacked, drawn by uPlot from data-chart.
(function () {
  "use strict";
  var box = document.getElementById("chart");
  if (!box || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(box.getAttribute("data-chart") || "{}");
  var days = data.days || [];
  if (!days.length) { box.textContent = "No calls in this range."; return; }
  var xs = days.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
  var answered = data.answered;
  var missed = data.missed;
  var total = answered.map(function (a, i) { return a + missed[i]; });
  var bars = uPlot.paths.bars({ size: [0.8, 40] });
  function width() { return Math.max(280, Math.min(box.clientWidth || 600, 1200)); }
  var opts = {
    width: width(),
    height: 260,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: { y: { range: function (u, lo, hi) { return [0, Math.max(1, hi)]; } } },
    axes: [{}, { size: 50 }],
    series: [
      { label: "Day" },
      // Drawn first at the full height, so the part above "Answered" shows the missed calls.
      { label: "Missed", fill: "#d9822b", stroke: "#a85d16", paths: bars,
        value: function (u, v, si, i) { return i == null ? "" : missed[i]; } },
      { label: "Answered", fill: "#2b7bd9", stroke: "#1a5aa6", paths: bars }
    ]
  };
  var plot = new uPlot(opts, [xs, total, answered], box);
  var wait = null;
  window.addEventListener("resize", function () {
    clearTimeout(wait);
    wait = setTimeout(function () { plot.setSize({ width: width(), height: 260 }); }, 150);
  });
})();

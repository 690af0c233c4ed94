"""Prometheus metrics (§12): requests and ingested calls counted in each process; export jobs,
the queue and finished exports' rows and seconds read from the database at scrape time.

The database is shared state: whichever process is scraped, and wherever the workers run, the
job figures agree and survive restarts. Per-process counters need prometheus-client's
multiprocess mode when one address is served by several processes (`serve --workers N`):
`prepare_processes` sets it up before they start.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from callreport import __version__, db
from callreport.export.formats import FORMATS
from callreport.jobs import STATES
from callreport.repo import job_figures

log = logging.getLogger("callreport.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCRAPE_QUERY_SECONDS = 5.0
# A list call takes ~2 ms, an ingest of 10,000 records ~1 s: buckets from 1 ms to 30 s.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ROW_BUCKETS = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
SECOND_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)

disable_created_metrics()  # a `_created` series per counter doubles the series and no alert uses it

REQUESTS = Counter("callreport_requests", "API requests by endpoint and outcome code.", ["endpoint", "code"])
LATENCY = Histogram(
    "callreport_request_duration_seconds", "Time to answer an API request.", ["endpoint"], buckets=REQUEST_BUCKETS
)
INGESTED = Counter("callreport_calls_ingested", "Call records stored by ingest (api) or the CLI (cli).", ["source"])
IMPORTED = Counter("callreport_calls_imported", "Call records stored by a PBX importer.", ["pbx"])


def observe_request(endpoint: str, outcome: object, seconds: float) -> None:
    """Count one API request by its route path and outcome code ("success" or the error code)."""
    REQUESTS.labels(endpoint, str(outcome)).inc()
    LATENCY.labels(endpoint).observe(seconds)


def ingested(source: str, count: int) -> None:
    """Count call records stored by ingest: source is "api" or "cli"."""
    INGESTED.labels(source).inc(count)


def imported(pbx: str, count: int) -> None:
    """Count call records stored by a PBX importer (pbx names it: asterisk, freeswitch...)."""
    IMPORTED.labels(pbx).inc(count)


def render(engine: sa.Engine) -> bytes:
    """The scrape: this process's (or every process's) counters, then the database's figures."""
    if os.environ.get(MULTIPROC_ENV):
        counters: Any = CollectorRegistry()
        MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    return generate_latest(_Chain([counters, _JobsCollector(engine)]))


class _Chain:
    """Several collectors seen as one registry by generate_latest."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


class _JobsCollector:
    """Export jobs by state and format, the queue, and finished exports, from one read of the table."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("callreport_build_info", "The running version (always 1).", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        up = GaugeMetricFamily("callreport_database_up", "Whether the scrape could read the export jobs.")
        try:
            with self.engine.connect() as conn, conn.begin(), db.time_budget(conn, SCRAPE_QUERY_SECONDS):
                by_state = job_figures.by_state(conn)
                finished = job_figures.finished(conn, ROW_BUCKETS, SECOND_BUCKETS)
        except Exception as exc:  # the counters are still worth a scrape while the database is away
            log.warning("metrics: cannot read export jobs: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _job_families(by_state)
        yield from _finished_families(finished)


def _job_families(rows: Iterable[sa.Row]) -> Iterator[Metric]:
    # Every state of every format, 0 included, so an alert on a series never meets a missing one.
    counts = {(state, fmt): 0 for state in STATES for fmt in FORMATS}
    oldest = None
    for state, fmt, count, first in rows:
        counts[(state, fmt)] = int(count)
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    by_state = GaugeMetricFamily(
        "callreport_export_jobs", "Export jobs by state and format.", labels=["state", "format"]
    )
    for (state, fmt), count in counts.items():
        by_state.add_metric([state, fmt], count)
    yield by_state
    pending = sum(n for (state, _), n in counts.items() if state == "pending")
    yield GaugeMetricFamily("callreport_export_queue_depth", "Export jobs waiting for a worker.", value=pending)
    age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
    yield GaugeMetricFamily(
        "callreport_export_oldest_pending_age_seconds", "Age of the oldest pending export job (0: none).", value=age
    )


def _finished_families(finished: Iterable[sa.Row]) -> Iterator[Metric]:
    rows_hist = HistogramMetricFamily("callreport_export_rows", "Rows per finished export.", labels=["format"])
    secs_hist = HistogramMetricFamily(
        "callreport_export_duration_seconds", "Seconds from first start to finish of an export.", labels=["format"]
    )
    n_rows = len(ROW_BUCKETS)
    for fmt, count, rows, seconds, *buckets in finished:
        rows_hist.add_metric([fmt], _buckets(ROW_BUCKETS, buckets[:n_rows], count), float(rows or 0))
        secs_hist.add_metric([fmt], _buckets(SECOND_BUCKETS, buckets[n_rows:], count), float(seconds or 0))
    yield rows_hist
    yield secs_hist


def _buckets(bounds: tuple, counts: list, total: int) -> list[tuple[str, float]]:
    # Each count is of values <= its bound: already cumulative, as Prometheus wants them.
    return [(str(float(b)), float(c or 0)) for b, c in zip(bounds, counts, strict=True)] + [("+Inf", float(total))]


def prepare_processes(workers: int, enabled: bool) -> None:
    """Before `serve` starts its processes: a clean shared folder, so a scrape counts them all."""
    if not enabled:
        return
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        # prometheus-client's rule: the folder is emptied before the processes start.
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)
    elif workers > 1:
        folder = tempfile.mkdtemp(prefix="callreport-metrics-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ[MULTIPROC_ENV] = folder  # read by the processes uvicorn spawns

"""Small Master.csv and cdr-table files of our own for what the corpus lacks (§11 rules, quoting, bad rows)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from callreport.sources import asterisk, mapping, merge
from callreport.sources.legs import Leg
from callreport.sources.mapping import Mapping, MappingError
from tests.factories import project_root
from tests.sources.helpers import by_id, errors


def master_row(uid, src, dst, ctx, chan, dchan, app, data, start, answer, end, dur, bill, disp, linked=None):
    """One cdr_csv row as Asterisk writes it: every string quoted, numbers bare, empty answer bare."""
    fields = ["", src, dst, ctx, f'"{src}" <{src}>', chan, dchan, app, data]
    head = ",".join('"' + f.replace('"', '""') + '"' for f in fields)
    answer_text = f'"{answer}"' if answer else ""
    tail = f'"{start}",{answer_text},"{end}",{dur},{bill},"{disp}","DOCUMENTATION","{uid}",""'
    if linked is not None:
        tail += f',"","{linked}",0'
    return f"{head},{tail}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Master.csv"
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize(
    "disposition,status",
    [("ANSWERED", "answered"), ("BUSY", "busy"), ("NO ANSWER", "noanswer"), ("FAILED", "failed"),
     ("CONGESTION", "failed")],
)  # fmt: skip
def test_outbound_dispositions(tmp_path, disposition, status):
    answer = "2024-03-01 10:00:05" if disposition == "ANSWERED" else ""
    bill = 25 if answer else 0
    row = master_row(
        "1709287200.1", "1001", "0612345678", "from-internal", "PJSIP/1001-00000001",
        "PJSIP/carrier-00000002", "Dial", "PJSIP/0612345678@carrier,60", "2024-03-01 10:00:00", answer,
        "2024-03-01 10:00:30", 30, bill, disposition,
    )  # fmt: skip
    record = next(asterisk.read(write(tmp_path, row), Mapping())).record
    assert (record["direction"], record["callType"], record["status"]) == ("outbound", "manual", status)
    assert (record["agentId"], record["customerNumber"], record["talkDuration"]) == ("1001", "0612345678", bill)
    assert record["waitTime"] == (5 if answer else 0)


def _queue_call(agent_answers: bool) -> str:
    # 0612345678 calls DID 0201234567 on trunk carrier; Queue(sales) answers it at once to play music;
    # member SIP/2001 answers at 10:00:40 (or nobody does and the caller hangs up at 10:01:00).
    rows = [
        master_row(
            "1709287200.7", "0612345678", "0201234567", "from-pstn", "SIP/carrier-00000007",
            "SIP/2001-00000008" if agent_answers else "", "Queue", "sales,t,,,300", "2024-03-01 10:00:00",
            "2024-03-01 10:00:00", "2024-03-01 10:01:00", 60, 60, "ANSWERED", linked="1709287200.7",
        ),
    ]  # fmt: skip
    if agent_answers:
        rows.append(
            master_row(
                "1709287210.9", "0612345678", "2001", "from-queue", "Local/2001@from-queue-00000003;2",
                "SIP/2001-00000008", "Dial", "SIP/2001,,", "2024-03-01 10:00:10", "2024-03-01 10:00:40",
                "2024-03-01 10:01:00", 50, 20, "ANSWERED", linked="1709287200.7",
            )
        )  # fmt: skip
    return "".join(rows)


def test_queue_answered_by_agent(tmp_path):
    record = next(asterisk.read(write(tmp_path, _queue_call(True)), Mapping())).record
    assert (record["status"], record["agentId"], record["queueName"], record["callType"]) == (
        "answered",
        "2001",
        "sales",
        "queue",
    )
    assert (record["waitTime"], record["talkDuration"], record["didNumber"]) == (0, 60, "0201234567")
    assert len(record["events"]) == 2


def test_queue_answered_by_the_pbx_only_is_missed(tmp_path):
    # Asterisk's Queue answered the caller's channel (disposition ANSWERED) but no member took the call.
    record = next(asterisk.read(write(tmp_path, _queue_call(False)), Mapping())).record
    assert (record["status"], record["agentId"], record["talkDuration"], record["direction"]) == (
        "missed",
        None,
        0,
        "inbound",
    )


def test_quoted_commas_and_quotes_and_the_16_field_layout(tmp_path):
    # lastdata holds commas and doubled quotes; no uniqueid (16 fields): the callId is channel@start.
    row = (
        '"acct-7","0612345678","2001","from-pstn","""O\'Brien, Pat"" <0612345678>","SIP/carrier-0000000a",'
        '"SIP/2001-0000000b","Dial","SIP/2001,30,tT(""say, hi"")","2024-03-01 10:00:00","2024-03-01 10:00:03",'
        '"2024-03-01 10:00:13",13,10,"ANSWERED","DOCUMENTATION"\n'
    )
    outcomes = list(asterisk.read(write(tmp_path, row), Mapping()))
    record = outcomes[0].record
    assert record["callId"] == f"SIP/carrier-0000000a@{1709287200}"
    assert (record["agentId"], record["talkDuration"], record["callAnalysis"]) == (
        "2001",
        10,
        {"accountcode": "acct-7", "lastapp": "Dial"},
    )


def test_bad_rows_are_reported_by_line_and_the_rest_kept(tmp_path):
    good = master_row(
        "1709287200.1", "0612345678", "2001", "from-pstn", "SIP/carrier-01", "SIP/2001-02", "Dial", "SIP/2001",
        "2024-03-01 10:00:00", "2024-03-01 10:00:02", "2024-03-01 10:00:09", 9, 7, "ANSWERED",
    )  # fmt: skip
    text = good + '"x","y"\n' + good.replace("10:00:00", "yesterday").replace(".1", ".2") + "\n"
    text += good.replace(",9,7,", ",nine,7,").replace(".1", ".3") + good.replace("1709287200.1", "1709287200.4")
    outcomes = list(asterisk.read(write(tmp_path, text), Mapping()))
    assert errors(outcomes) == [
        (2, "has 2 fields; cdr_csv writes 16, 18 or 21"),
        (3, "start '2024-03-01 yesterday' is not a time (or a placeholder date before 1980)"),
        (5, "duration 'nine' or billsec '7' is not a number"),
    ]
    assert sorted(by_id(outcomes)) == ["1709287200.1", "1709287200.4"]


def test_header_line_counts_and_missing_columns(tmp_path):
    text = "calldate,src,dst,channel,dstchannel,duration,billsec,disposition,uniqueid\n"
    text += "2024-03-01 10:00:00,0612345678,2001,SIP/carrier-1,SIP/2001-2,9,7,ANSWERED,1709287200.1\n"
    text += "2024-03-01 10:00:00,0612345678,2001,SIP/carrier-1\n"
    outcomes = list(asterisk.read(write(tmp_path, text), Mapping()))
    assert errors(outcomes) == [(3, "has 4 fields, the layout has 9")]
    record = by_id(outcomes)["1709287200.1"]
    assert (record["endTime"], record["waitTime"], record["talkDuration"]) == ("2024-03-01T10:00:09+00:00", 2, 7)


def test_unknown_layout_is_one_error(tmp_path):
    assert errors(asterisk.read(write(tmp_path, "hello,world\n1,2\n"), Mapping())) == [
        (1, "is not a layout this importer knows (cdr_csv, cdr_custom or a cdr table export)")
    ]


def test_merge_window_bounds_what_is_held():
    """Calls leave memory once the reader is `window` legs past them; a call is never written twice."""

    def leg(key: str, i: int) -> Leg:
        return Leg(
            key=key, leg_id=key, where=i, start=float(i), answer=None, end=float(i + 1), billsec=0, src="0612345678",
            dst="2001", from_ext=None, from_trunk=True, to_ext=None, to_trunk=False, context="", connected=False,
            outcome="noanswer", app="Dial", note="", accountcode="", raw=None,
        )  # fmt: skip

    held = []

    def stream():
        for i in range(1000):
            yield leg(f"call-{i // 2}", i)  # two legs per call, adjacent
            held.append(i)

    out = []
    for outcome in merge.merge(stream(), Mapping(window=3)):
        # when an outcome comes out, the reader is at most window + 1 legs past the call's last leg
        out.append(outcome)
        assert len(held) - 1 - outcome.where <= 3 + 1
    assert len(out) == 500 and len({o.record["callId"] for o in out}) == 500
    assert all(len(o.record["events"]) == 2 for o in out)


def test_mapping_file_and_its_errors(tmp_path):
    example = mapping.load(project_root() / "docs" / "mapping.example.toml")
    assert example == Mapping()  # the example documents the defaults
    path = tmp_path / "m.toml"
    path.write_text(
        "timezone = \"Europe/Kyiv\"\ninclude_internal = true\n[extensions]\npatterns = ['sip\\d+']\n"
        '[call_analysis]\nfields = ["disposition"]\n[accounts]\n"100" = "acc_x"\n'
    )
    m = mapping.load(path)
    assert (m.timezone, m.include_internal, m.is_extension("sip5"), m.is_extension("1001")) == (
        "Europe/Kyiv",
        True,
        True,
        False,
    )
    assert (m.analysis_fields, m.accounts) == (("disposition",), {"100": "acc_x"})
    for bad, message in [
        ("colour = 1", "colour: not a mapping setting"),
        ('timezone = "Mars/Base"', "timezone: 'Mars/Base' is not an IANA zone"),
        ("[extensions]\npatterns = ['(']", "extensions: missing ), unterminated subpattern"),
        ("include_internal = 'yes'", "include_internal: must be a bool"),
    ]:
        path.write_text(bad)
        with pytest.raises(MappingError) as exc:
            mapping.load(path)
        assert str(exc.value).startswith(message)


def test_accountcode_picks_the_account(tmp_path):
    row = master_row(
        "1709287200.1", "0612345678", "2001", "from-pstn", "SIP/carrier-01", "SIP/2001-02", "Dial", "SIP/2001",
        "2024-03-01 10:00:00", "2024-03-01 10:00:02", "2024-03-01 10:00:09", 9, 7, "ANSWERED",
    ).replace('""', '"100"', 1)  # fmt: skip
    assert next(csv.reader(io.StringIO(row)))[0] == "100"
    outcome = next(asterisk.read(write(tmp_path, row), Mapping(accounts={"100": "acc_x"})))
    assert outcome.account == "acc_x"
    assert next(asterisk.read(write(tmp_path, row), Mapping())).account is None

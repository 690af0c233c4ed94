"""Real Asterisk CDRs (../shared/cdr-corpus/sources): expectations written by reading the rows."""

from __future__ import annotations

from datetime import datetime

from callreport.sources import asterisk
from callreport.sources.mapping import Mapping
from tests.sources.helpers import brief, by_id, corpus, errors

MINEEV = "asterisk-master-mineevburyat-dj-asterisk-cdr.csv"
KARTHIK = "asterisk-master-karthik0112-synk_bug.csv"


def test_linkedid_legs_become_one_inbound_call_answered_by_the_extension():
    # lines 43-44: 81495293654391 -> DID 211553 (context stadion-pstn); SIP/301 answers at 05:38:24
    # (billsec 16), the upstream stadionpbx leg does not; both rows share linkedid mainserverdss-1706420300.0.
    outcomes = list(asterisk.read(corpus(MINEEV), Mapping()))
    calls = by_id(outcomes)
    assert brief(calls["mainserverdss-1706420300.0"]) == {
        "callId": "mainserverdss-1706420300.0",
        "startTime": "2024-01-28T05:38:20+00:00",
        "endTime": "2024-01-28T05:38:41+00:00",
        "duration": 21,
        "talkDuration": 16,
        "waitTime": 4,
        "direction": "inbound",
        "callType": "direct",
        "status": "answered",
        "callerNumber": "81495293654391",
        "customerNumber": "81495293654391",
        "didNumber": "211553",
        "agentId": "301",
        "queueName": None,
    }
    events = calls["mainserverdss-1706420300.0"]["events"]
    assert [(e["time"], e.get("agentId")) for e in events] == [
        ("2024-01-28T05:38:20+00:00", "301"),
        ("2024-01-28T05:38:20+00:00", None),
    ]
    where = {o.record["callId"]: o.where for o in outcomes if o.record}
    assert where["mainserverdss-1706420300.0"] == 43


def test_a_call_only_the_upstream_trunk_answered_is_missed():
    # lines 47-48: SIP/301 NO ANSWER, then SIP/stadionpbx (a trunk, not an extension) ANSWERED until 06:17:27.
    call = by_id(asterisk.read(corpus(MINEEV), Mapping()))["mainserverdss-1706422609.10"]
    assert (call["status"], call["agentId"], call["talkDuration"], call["waitTime"]) == ("missed", None, 0, 0)
    assert (call["startTime"], call["endTime"], call["duration"]) == (
        "2024-01-28T06:16:49+00:00",
        "2024-01-28T06:17:27+00:00",
        38,
    )


def test_non_utf8_caller_names_do_not_stop_the_file():
    # lines 41-42 carry 0xA5 bytes in the CLID; all 84 rows still load: 36 linkedids, 1 of them internal.
    outcomes = list(asterisk.read(corpus(MINEEV), Mapping()))
    assert errors(outcomes) == []
    call = by_id(outcomes)["1706415046.98"]
    assert (call["customerNumber"], call["startTime"], call["endTime"]) == (
        "81104224538215",
        "2024-01-28T04:10:46+00:00",
        "2024-01-28T04:11:23+00:00",
    )
    assert len(by_id(outcomes)) == 35 and len(outcomes) == 36


def test_internal_queue_call_is_skipped_unless_included():
    # lines 162-164, uniqueid 1658130551.1378: 1001 dials 1002 (BUSY twice), then Queue(500) answers
    # with no member: an extension-to-extension call.
    assert "1658130551.1378" not in by_id(asterisk.read(corpus(KARTHIK), Mapping()))
    call = by_id(asterisk.read(corpus(KARTHIK), Mapping(include_internal=True)))["1658130551.1378"]
    assert brief(call) == {
        "callId": "1658130551.1378",
        "startTime": "2022-07-18T07:49:11+00:00",
        "endTime": "2022-07-18T07:49:51+00:00",
        "duration": 40,
        "talkDuration": 0,
        "waitTime": 0,
        "direction": "outbound",
        "callType": "internal",
        "status": "busy",
        "callerNumber": "1001",
        "customerNumber": "1002",
        "didNumber": None,
        "agentId": "1001",
        "queueName": "500",
    }
    assert [e["type"] for e in call["events"]] == ["dial", "dial", "queue"]


def test_answered_internal_call_times_come_from_the_row():
    # line 2: 1001 -> 1002, start 04:15:03, answer 04:15:08, end 04:15:28, billsec 19.
    call = by_id(asterisk.read(corpus(KARTHIK), Mapping(include_internal=True)))["1655439303.12"]
    assert (call["status"], call["agentId"], call["talkDuration"], call["waitTime"], call["duration"]) == (
        "answered",
        "1001",
        19,
        5,
        25,
    )


def test_outbound_busy_then_congestion_app_is_busy():
    # simularent lines 66-67 (uniqueid 1474040546.32): Local;1 dials 12489398620 via trunk sipus1 -> BUSY,
    # then the Congestion application "answers": an outbound call the far end was busy for.
    calls = by_id(asterisk.read(corpus("asterisk-master-simularent-asterisk-for-speech-to-text.csv"), Mapping()))
    call = calls["1474040546.32"]
    assert (call["direction"], call["status"], call["customerNumber"], call["agentId"]) == (
        "outbound",
        "busy",
        "12489398620",
        None,
    )
    assert (call["startTime"], call["endTime"], call["callType"]) == (
        "2016-09-16T15:42:35+00:00",
        "2016-09-16T15:42:46+00:00",
        "manual",
    )


def test_cdr_table_export_with_mapping_timezone_and_extension_pattern():
    # aleksa5324 line 4: +389640636867 calls in on GSM gateway gsm2 (context openvox-gsm-no), SIP/sip5
    # answers; duration 11, billsec 7; the PBX ran at +03:00 (calldate - uniqueid epoch).
    path = corpus("asterisk-cdr-table-aleksa5324-d.csv")
    mapping = Mapping(extensions=(r"\d{2,6}", r"sip\d+"), timezone="Europe/Kyiv")
    outcomes = list(asterisk.read(path, mapping))
    assert errors(outcomes) == [(2, "start '0000-00-00 00:00:00' is not a time (or a placeholder date before 1980)")]
    call = by_id(outcomes)["1495551546.3"]
    assert brief(call) == {
        "callId": "1495551546.3",
        "startTime": "2017-05-23T17:59:06+03:00",
        "endTime": "2017-05-23T17:59:17+03:00",
        "duration": 11,
        "talkDuration": 7,
        "waitTime": 4,
        "direction": "inbound",
        "callType": "direct",
        "status": "answered",
        "callerNumber": "+389640636867",
        "customerNumber": "+389640636867",
        "didNumber": None,
        "agentId": "sip5",
        "queueName": None,
    }
    assert datetime.fromisoformat(call["startTime"]).timestamp() == 1495551546
    # without the pattern sip5 is a trunk: nobody of the PBX answered
    assert by_id(asterisk.read(path, Mapping(timezone="Europe/Kyiv")))["1495551546.3"]["status"] == "missed"


def test_placeholder_rows_of_the_viewer_are_rejected_by_line():
    # oscar6262: 38 rows with calldate 1000-01-01 or 0000-00-00 (the viewer wrote them, not the PBX).
    outcomes = list(asterisk.read(corpus("asterisk-cdr-table-oscar6262-freepbx-calls-history.csv"), Mapping()))
    lines = [where for where, _ in errors(outcomes)]
    assert len(lines) == 38
    assert lines[:10] == [403, 404, 405, 406, 407, 434, 435, 436, 441, 463]
    assert lines[10:25] == [466, 467, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477, 478, 479, 518]
    assert lines[25:] == list(range(563, 576))


def test_cdr_table_outbound_and_inbound_unanswered():
    # oscar6262 line 2: PJSIP/201 -> PJSIP/TRUNK200 dialling 101, NO ANSWER (duration 2);
    # line 4: TRUNK200 caller 0123456789 -> PJSIP/201 in ext-local, NO ANSWER (duration 8).
    calls = by_id(asterisk.read(corpus("asterisk-cdr-table-oscar6262-freepbx-calls-history.csv"), Mapping()))
    out, missed = calls["1713126445.0"], calls["1713126466.4"]
    assert (out["direction"], out["status"], out["agentId"], out["customerNumber"], out["endTime"]) == (
        "outbound",
        "noanswer",
        "201",
        "101",
        "2024-04-14T20:27:27+00:00",
    )
    assert (missed["direction"], missed["status"], missed["customerNumber"], missed["duration"]) == (
        "inbound",
        "missed",
        "0123456789",
        8,
    )


def test_queue_call_with_broken_quoting_and_forked_cdrs():
    # srinimonster lines 115-123, linkedid 1543602660.197, EST: 17106902715 calls DID 2423187253 on
    # trunk VIOrig, waits in Queue(IT) while Local/1141 and Local/1127 ring; Local/1127@callback-agent
    # answers at 13:32:26 (billsec 6); the last leg ends 13:32:33 + 847 s.
    path = corpus("asterisk-cdr-table-srinimonster-voipreports1.csv")
    outcomes = list(asterisk.read(path, Mapping(timezone="America/New_York")))
    assert errors(outcomes) == []
    call = by_id(outcomes)["1543602660.197"]
    assert brief(call) == {
        "callId": "1543602660.197",
        "startTime": "2018-11-30T13:31:00-05:00",
        "endTime": "2018-11-30T13:46:40-05:00",
        "duration": 940,
        "talkDuration": 6,
        "waitTime": 86,
        "direction": "inbound",
        "callType": "queue",
        "status": "answered",
        "callerNumber": "17106902715",
        "customerNumber": "17106902715",
        "didNumber": "2423187253",
        "agentId": "1127",
        "queueName": "IT",
    }
    assert len(call["events"]) == 9
    assert call["callAnalysis"] == {"accountcode": "VIOrig", "userfield": "6000", "lastapp": "ForkCDR"}


def test_day_month_resave_without_header():
    # noheader-dmy line 1: "1/9/2017 16:33:01" is 1 September (uniqueid 1504279981 = 15:33:01Z, +01:00).
    path = corpus("asterisk-cdr-table-apspoliveira-noheader-dmy.csv")
    outcomes = list(asterisk.read(path, Mapping(timezone="Europe/Lisbon", include_internal=True)))
    assert errors(outcomes) == []
    call = by_id(outcomes)["1504279981.1"]
    assert (call["startTime"], call["endTime"], call["direction"], call["callType"]) == (
        "2017-09-01T16:33:01+01:00",
        "2017-09-01T16:33:28+01:00",
        "outbound",
        "internal",
    )
    assert len(outcomes) == 856  # 856 rows, one uniqueid each


def test_unescaped_quotes_in_a_freepbx_report_download():
    # apspoliveira cdrreport: clid "User 9" <113> is a bare field; the 100 rows all keep their 16 fields.
    outcomes = list(
        asterisk.read(corpus("asterisk-cdr-table-apspoliveira-freepbx-cdrreport.csv"), Mapping(include_internal=True))
    )
    assert errors(outcomes) == [] and len(outcomes) == 100
    call = by_id(outcomes)["1504542178.244"]  # line 4: SIP/109 -> SIP/113, duration 6, billsec 5
    assert (call["agentId"], call["customerNumber"], call["talkDuration"], call["waitTime"]) == ("109", "113", 5, 1)


def test_cdr_custom_layout_and_extension_names():
    # kelysaina line 1: PJSIP/client1 dials 6789, PJSIP/client2 answers 01:51:50 (billsec 13), EAT +03:00.
    path = corpus("asterisk-cdr-custom-kelysaina-cdr.csv")
    mapping = Mapping(extensions=(r"client\d+",), timezone="Indian/Antananarivo", include_internal=True)
    call = by_id(asterisk.read(path, mapping))["1690325492.2"]
    assert (call["startTime"], call["waitTime"], call["talkDuration"], call["agentId"], call["callType"]) == (
        "2023-07-26T01:51:32+03:00",
        18,
        13,
        "client1",
        "internal",
    )


def test_testsuite_console_calls_are_internal():
    path = corpus("asterisk-master-asterisk-testsuite-self_test.csv")
    assert [o.record for o in asterisk.read(path, Mapping())] == [None, None]


def test_importing_twice_gives_identical_records():
    for name in (MINEEV, KARTHIK, "asterisk-cdr-table-srinimonster-voipreports1.csv"):
        mapping = Mapping(include_internal=True)
        assert list(asterisk.read(corpus(name), mapping)) == list(asterisk.read(corpus(name), mapping))

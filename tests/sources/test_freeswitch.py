"""FreeSWITCH mod_json_cdr: the real corpus documents, plus mod_callcenter and hangup causes it lacks."""

from __future__ import annotations

import json
import shutil
from urllib.parse import quote

import pytest

from callreport.sources import freeswitch
from callreport.sources.mapping import Mapping
from tests.sources.helpers import brief, by_id, corpus, errors

ONEX = [corpus(f"freeswitch-onex-abhinav-freeswitch-debian-docker-{i}.json") for i in (1, 2, 3)]


def test_a_and_b_legs_of_one_cancelled_call():
    # onex 1 (A, uuid 51156b0b, 1001 -> 1003, start 1762923102, end 1762923116, ORIGINATOR_CANCEL) and
    # onex 2 (B, originating_leg_uuid = A's uuid, rang 1003 from 1762923112): one internal call.
    outcomes = list(freeswitch.read(ONEX[:2], Mapping(include_internal=True)))
    assert len(outcomes) == 1
    assert brief(outcomes[0].record) == {
        "callId": "51156b0b-f91b-4fd3-9c8f-15226f6098be",
        "startTime": "2025-11-12T04:51:42+00:00",
        "endTime": "2025-11-12T04:51:56+00:00",
        "duration": 14,
        "talkDuration": 0,
        "waitTime": 0,
        "direction": "outbound",
        "callType": "internal",
        "status": "cancelled",
        "callerNumber": "1001",
        "customerNumber": "1003",
        "didNumber": None,
        "agentId": "1001",
        "queueName": None,
    }
    assert [e["time"] for e in outcomes[0].record["events"]] == [
        "2025-11-12T04:51:42+00:00",
        "2025-11-12T04:51:52+00:00",
    ]
    # URL-encoded values are decoded (last_arg is user/1003%4010.30.40.77 in the file)
    assert outcomes[0].record["callAnalysis"]["hangup_cause"] == "ORIGINATOR_CANCEL"
    assert [o.record for o in freeswitch.read(ONEX[:2], Mapping())] == [None]


def test_originated_call_to_a_gateway_is_outbound_without_agent():
    # onex 3: direction outbound on gateway sipptester to 3868158407, answered 1762932838, 7 s of playback.
    record = next(freeswitch.read(ONEX[2:], Mapping())).record
    assert (record["direction"], record["status"], record["customerNumber"], record["agentId"]) == (
        "outbound",
        "answered",
        "3868158407",
        None,
    )
    assert (record["talkDuration"], record["duration"], record["callType"]) == (7, 7, "manual")


@pytest.mark.parametrize("n,shape", [(2, "old"), (5, "new")])
def test_old_and_new_callflow_shapes(n, shape):
    # cgrates 2 (callflow an object) and 5 (a list): 1001 -> 1002 bridged on the internal profile.
    # cgrates 2: start 1396984221, answer +6, end 1396984242, billsec 15; cgrates 5: +9, billsec 21.
    record = next(freeswitch.read([corpus(f"freeswitch-cgrates-{n}.json")], Mapping(include_internal=True))).record
    wait, talk, duration = {2: (6, 15, 21), 5: (9, 21, 30)}[n]
    assert (record["waitTime"], record["talkDuration"], record["duration"]) == (wait, talk, duration)
    assert (record["agentId"], record["customerNumber"], record["status"]) == ("1001", "1002", "answered")
    assert record["callAnalysis"]["accountcode"] == "1001"


def test_folder_is_read_and_importing_twice_is_identical(tmp_path):
    for path in ONEX:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "broken.json").write_text("{not json")
    first = list(freeswitch.read([tmp_path], Mapping(include_internal=True)))
    assert first == list(freeswitch.read([tmp_path], Mapping(include_internal=True)))
    assert len(by_id(first)) == 2
    assert [w for w, _ in errors(first)] == ["broken.json"]


def test_push_bodies_raw_and_form_encoded():
    raw = ONEX[0].read_bytes()
    form = b"cdr=" + quote(raw.decode()).encode()
    assert freeswitch.document(raw) == freeswitch.document(form)
    for bad in (b"cdr=%7Bnope", b"uuid=1", b"[1]"):
        with pytest.raises(freeswitch.BadDocument):
            freeswitch.document(bad)


def _doc(uuid: str, start: int, answer: int, end: int, chan: str, direction: str = "inbound", **variables) -> dict:
    base = {
        "uuid": uuid,
        "direction": direction,
        "start_epoch": str(start),
        "answer_epoch": str(answer),
        "end_epoch": str(end),
        "billsec": str(end - answer if answer else 0),
        "hangup_cause": "NORMAL_CLEARING",
    }
    base.update({k: str(v) for k, v in variables.items()})
    cid, dest = variables.get("caller_id_number", "1001"), variables.get("destination_number", "5000")
    profile = {"uuid": uuid, "chan_name": chan, "caller_id_number": cid, "destination_number": dest}
    return {"variables": base, "callflow": [{"caller_profile": profile}]}


def _write(tmp_path, docs: list[dict]) -> list:
    paths = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"{i:02d}.cdr.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def test_callcenter_member_and_agent_legs_become_one_queue_call(tmp_path):
    # A customer calls in on a gateway at 1000, joins queue support@default, agent 1002 answers at 1030
    # (cc_queue_answered_epoch), the call ends at 1090; agent 1001 was rung first and did not answer.
    member = _doc(
        "m-1", 1000, 1002, 1090, "sofia/external/+15551234567", caller_id_number="+15551234567",
        destination_number="18005550100", sip_gateway_name="carrier", cc_side="member",
        cc_queue="support@default", cc_agent="1002@default", cc_queue_answered_epoch=1030,
    )  # fmt: skip
    missed_agent = _doc(
        "a-1", 1005, 0, 1020, "sofia/internal/1001@10.0.0.5", direction="outbound", hangup_cause="NO_ANSWER",
        cc_side="agent", cc_queue="support@default", cc_agent="1001@default", cc_member_session_uuid="m-1",
    )  # fmt: skip
    agent = _doc(
        "a-2", 1021, 1030, 1090, "sofia/internal/1002@10.0.0.6", direction="outbound",
        cc_side="agent", cc_queue="support@default", cc_agent="1002@default", cc_member_session_uuid="m-1",
    )  # fmt: skip
    outcomes = list(freeswitch.read(_write(tmp_path, [member, missed_agent, agent]), Mapping()))
    assert len(outcomes) == 1
    assert brief(outcomes[0].record) == {
        "callId": "m-1",
        "startTime": "1970-01-01T00:16:40+00:00",
        "endTime": "1970-01-01T00:18:10+00:00",
        "duration": 90,
        "talkDuration": 60,
        "waitTime": 30,
        "direction": "inbound",
        "callType": "queue",
        "status": "answered",
        "callerNumber": "+15551234567",
        "customerNumber": "+15551234567",
        "didNumber": "18005550100",
        "agentId": "1002",
        "queueName": "support@default",
    }
    assert len(outcomes[0].record["events"]) == 3


def test_callcenter_member_nobody_answered_is_missed(tmp_path):
    member = _doc(
        "m-2", 1000, 1001, 1060, "sofia/gateway/carrier/+15551234567", caller_id_number="+15551234567",
        cc_side="member", cc_queue="sales@default", cc_cause="cancel",
    )  # fmt: skip
    record = next(freeswitch.read(_write(tmp_path, [member]), Mapping())).record
    assert (record["status"], record["agentId"], record["queueName"], record["callType"]) == (
        "missed",
        None,
        "sales@default",
        "queue",
    )


@pytest.mark.parametrize(
    "cause,status",
    [
        ("USER_BUSY", "busy"),
        ("NO_ANSWER", "noanswer"),
        ("NO_USER_RESPONSE", "noanswer"),
        ("ORIGINATOR_CANCEL", "cancelled"),
        ("CALL_REJECTED", "failed"),
        ("UNALLOCATED_NUMBER", "failed"),
    ],
)
def test_outbound_hangup_causes(tmp_path, cause, status):
    # 1001 dials 0612345678 through a gateway; the B leg is never answered.
    a = _doc("o-1", 100, 0, 120, "sofia/internal/1001@pbx", hangup_cause=cause, destination_number="0612345678")
    b = _doc(
        "o-2", 101, 0, 120, "sofia/gateway/carrier/0612345678", direction="outbound", hangup_cause=cause,
        originating_leg_uuid="o-1", destination_number="0612345678", sip_gateway_name="carrier",
    )  # fmt: skip
    record = next(freeswitch.read(_write(tmp_path, [a, b]), Mapping())).record
    assert (record["direction"], record["status"], record["agentId"], record["customerNumber"]) == (
        "outbound",
        status,
        "1001",
        "0612345678",
    )


def test_a_document_without_times_is_rejected_by_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"variables": {"uuid": "u"}}))
    assert errors(freeswitch.read([path], Mapping())) == [("x.json", "lacks uuid, start or end time")]

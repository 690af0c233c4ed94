"""hangupBy from FreeSWITCH's sip_hangup_disposition on the customer's leg (§5, §11).

The variable says which end of a SIP leg ended it: recv_bye / recv_cancel / recv_refuse, the far end
(on the customer's leg: the customer); send_bye, FreeSWITCH hung up the far end (an agent bridged to
it, else the dialplan); send_cancel / send_refuse, FreeSWITCH gave up on or refused the leg.
"""

from __future__ import annotations

import json

import pytest

from callreport.sources import freeswitch
from callreport.sources.mapping import Mapping
from tests.sources.helpers import corpus

CUSTOMER = "+15551234567"


def _doc(uuid: str, chan: str, answer: int, disposition: str | None, **variables) -> dict:
    """A minimal mod_json_cdr document: start 1000, end 1060."""
    v = {"uuid": uuid, "direction": "inbound", "start_epoch": "1000", "answer_epoch": str(answer), "end_epoch": "1060"}
    if disposition is not None:
        v["sip_hangup_disposition"] = disposition
    v.update({k: str(x) for k, x in variables.items()})
    profile = {"uuid": uuid, "chan_name": chan, "caller_id_number": v.get("caller_id_number", "1001"),
               "destination_number": v.get("destination_number", "5000")}  # fmt: skip
    return {"variables": v, "callflow": [{"caller_profile": profile}]}


def _hangup_by(tmp_path, docs: list[dict]) -> str | None:
    paths = []
    for i, doc in enumerate(docs):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(doc))
    (outcome,) = freeswitch.read(paths, Mapping())
    return outcome.record["hangupBy"]


def _inbound(answer: int, disposition: str | None, bridged: bool) -> list[dict]:
    """A customer calls in on a gateway; bridged: extension 1002 answers at 1005 (its B leg)."""
    extra = {"bridge_channel": "sofia/internal/1002@10.0.0.6"} if bridged else {}
    a = _doc("in-a", f"sofia/external/{CUSTOMER}", answer, disposition, sip_gateway_name="carrier",
             caller_id_number=CUSTOMER, destination_number="18005550100", **extra)  # fmt: skip
    b = _doc("in-b", "sofia/internal/1002@10.0.0.6", 1005, None, direction="outbound", originating_leg_uuid="in-a")
    return [a, b] if bridged else [a]


@pytest.mark.parametrize(
    "answer,disposition,bridged,expected",
    [
        (1005, "recv_bye", True, "customer"),  # the customer sent BYE while talking to the agent
        (1005, "send_bye", True, "agent"),  # the agent hung up: FreeSWITCH sent the customer BYE
        (0, "recv_cancel", False, "customer"),  # the customer gave up while it rang (CANCEL)
        (1001, "send_bye", False, "system"),  # an IVR answered, no agent: the dialplan hung up
        (0, "send_refuse", False, "system"),  # FreeSWITCH refused the call (4xx/5xx)
        (1005, None, True, None),  # no sip_hangup_disposition (not a SIP leg, an old CDR): unknown
    ],
)
def test_inbound_hangup_by(tmp_path, answer, disposition, bridged, expected):
    assert _hangup_by(tmp_path, _inbound(answer, disposition, bridged)) == expected


@pytest.mark.parametrize(
    "answer,a_disposition,b_disposition,expected",
    [
        (1005, "send_bye", "recv_bye", "customer"),  # the called customer sent BYE
        (1005, "recv_bye", "send_bye", "agent"),  # the agent's phone sent BYE; FreeSWITCH sent it on
        (0, "send_refuse", "recv_refuse", "customer"),  # the customer's side refused (busy, declined)
        (0, "recv_cancel", "send_cancel", "system"),  # FreeSWITCH cancelled the ringing customer leg
        (1005, "recv_bye", None, None),  # the customer's leg does not say: unknown
    ],
)
def test_outbound_hangup_by_is_read_on_the_called_customers_leg(tmp_path, answer, a_disposition, b_disposition,
                                                                 expected):  # fmt: skip
    # 1001 dials 0612345678 through gateway carrier: the A leg is 1001's phone, the B leg the customer.
    a = _doc("out-a", "sofia/internal/1001@pbx", answer, a_disposition, destination_number="0612345678",
             bridge_channel="sofia/gateway/carrier/0612345678")  # fmt: skip
    b = _doc("out-b", "sofia/gateway/carrier/0612345678", answer, b_disposition, direction="outbound",
             originating_leg_uuid="out-a", sip_gateway_name="carrier", destination_number="0612345678")  # fmt: skip
    assert _hangup_by(tmp_path, [a, b]) == expected


def test_real_originated_call_hung_up_by_the_dialplan():
    # onex 3: FreeSWITCH originated a call on gateway sipptester to 3868158407 and played a file to it;
    # its sip_hangup_disposition is send_bye (FreeSWITCH ended it) and no agent took part: system.
    (outcome,) = freeswitch.read([corpus("freeswitch-onex-abhinav-freeswitch-debian-docker-3.json")], Mapping())
    assert (outcome.record["agentId"], outcome.record["hangupBy"]) == (None, "system")

"""`callreport demo --from asterisk|freeswitch`: realistic PBX files written to the data folder, then imported.

A call centre's day as the PBX itself logs it: inbound calls through a queue (answered by an agent,
transferred to a second agent, or abandoned while the queue played music), direct calls, and
outbound calls that were answered, busy, unanswered or failed, so a newcomer sees PBX -> report.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.engine import Engine

from callreport.sources import asterisk, freeswitch
from callreport.sources.mapping import Mapping
from callreport.sources.store import Summary, load

AGENTS = ("2001", "2002", "2003", "2004", "2005", "2006")
QUEUES = ("sales", "support")
DID = "0201234567"
KINDS = ("asterisk", "freeswitch")
OUT_DISPOSITIONS = {"out-answered": "ANSWERED", "out-busy": "BUSY", "out-noanswer": "NO ANSWER"}
# (kind, weight): what happened to a call
PLAN = (("queue", 40), ("transfer", 8), ("abandoned", 12), ("direct", 10), ("out-answered", 15),
        ("out-busy", 6), ("out-noanswer", 6), ("out-failed", 3))  # fmt: skip


def _calls(n: int, days: int, zone: ZoneInfo, seed: int = 0) -> Iterator[tuple[int, str, int, random.Random]]:
    """(number, what happened, start epoch, rng) for n calls in business hours (09:00 to 18:00) of the
    last `days` days whose business hours are over, so all n are in the past whatever the time of day."""
    rng = random.Random(seed)
    kinds = [k for k, w in PLAN for _ in range(w)]
    local = datetime.fromtimestamp(time.time(), zone)
    last = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if local.hour < 18:  # today's business hours are not over: the last full day is yesterday
        last -= timedelta(days=1)
    first = int(last.timestamp()) - (days - 1) * 86400
    starts = sorted(first + d * 86400 + rng.randint(0, 9 * 3600) for d in range(days) for _ in range(n // days + 1))
    for i, start in enumerate(starts[:n]):
        yield i, rng.choice(kinds), start, rng


def write_asterisk(folder: Path, n: int, days: int, zone: ZoneInfo) -> Path:
    """A Master.csv (Asterisk 12+ columns, with linkedid) of n calls, times in the PBX's zone."""
    path = folder / "Master.csv"

    def stamp(t: int | None) -> str:
        return datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d %H:%M:%S") if t else ""

    def row(uid, link, src, dst, ctx, chan, dchan, app, data, t0, ta, t1, disp) -> str:
        bill = t1 - ta if ta else 0
        cells = ["", src, dst, ctx, f'"{src}" <{src}>', chan, dchan, app, data, stamp(t0), stamp(ta), stamp(t1)]
        text = ",".join('"' + c.replace('"', '""') + '"' if c else "" for c in cells)
        return f'{text},{t1 - t0},{bill},"{disp}","DOCUMENTATION","{uid}","","","{link}",0\n'

    with open(path, "w", encoding="utf-8") as out:
        for i, kind, t, rng in _calls(n, days, zone):
            uid, customer = f"{t}.{i}", f"06{rng.randint(10_000_000, 99_999_999)}"
            agent, other, queue = rng.choice(AGENTS), rng.choice(AGENTS), rng.choice(QUEUES)
            ring, talk = rng.randint(4, 60), rng.randint(30, 500)
            trunk = f"SIP/carrier-{i:08x}"
            if kind in ("queue", "transfer", "abandoned"):
                answered = kind != "abandoned"
                end = t + ring + (talk if answered else rng.randint(5, 90))
                out.write(row(uid, uid, customer, DID, "from-pstn", trunk, f"SIP/{agent}-{i:04x}" if answered else "",
                              "Queue", f"{queue},t,,,300", t, t, end, "ANSWERED"))  # fmt: skip
                out.write(row(f"{uid}1", uid, customer, agent, "from-queue", f"Local/{agent}@from-queue-{i:04x};2",
                              f"SIP/{agent}-{i:04x}", "Dial", f"SIP/{agent},,", t + 1, t + ring if answered else None,
                              end, "ANSWERED" if answered else "NO ANSWER"))  # fmt: skip
                if kind == "transfer":  # the agent hands the caller to a colleague (an attended transfer)
                    out.write(row(f"{uid}2", uid, agent, other, "from-internal", f"SIP/{agent}-{i:04x}",
                                  f"SIP/{other}-{i:04x}", "Dial", f"SIP/{other},,", end - 20, end - 15, end + 60,
                                  "ANSWERED"))  # fmt: skip
            elif kind == "direct":
                out.write(row(uid, uid, customer, agent, "from-pstn", trunk, f"SIP/{agent}-{i:04x}", "Dial",
                              f"SIP/{agent},20", t, t + ring, t + ring + talk, "ANSWERED"))  # fmt: skip
            else:
                disp = OUT_DISPOSITIONS.get(kind, "FAILED")
                ta = t + ring if disp == "ANSWERED" else None
                out.write(row(uid, uid, agent, customer, "from-internal", f"SIP/{agent}-{i:04x}", trunk, "Dial",
                              "SIP/carrier,60", t, ta, (ta or t + ring) + (talk if ta else 0), disp))  # fmt: skip
    return path


def write_freeswitch(folder: Path, n: int, days: int, zone: ZoneInfo) -> Path:
    """A folder of mod_json_cdr documents: A and B legs, mod_callcenter member and agent legs."""
    target = folder / "json_cdr"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.cdr.json"):
        old.unlink()
    causes = {"out-busy": "USER_BUSY", "out-noanswer": "NO_ANSWER", "out-failed": "CALL_REJECTED"}
    for i, kind, t, rng in _calls(n, days, zone):
        customer, agent, queue = f"+3161{rng.randint(1_000_000, 9_999_999)}", rng.choice(AGENTS), rng.choice(QUEUES)
        ring, talk, a = rng.randint(4, 60), rng.randint(30, 500), f"{i:08d}-aaaa-4000-8000-{t:012d}"
        if kind.startswith("out-"):
            answered = kind == "out-answered"
            end = t + ring + (talk if answered else 0)
            cause = causes.get(kind, "NORMAL_CLEARING")
            # Dialled from an agent's phone: FreeSWITCH's internal context, "default" (not "public", for trunks).
            docs = [_fs(a, t, t + ring if answered else 0, end, f"sofia/internal/{agent}@10.0.0.2", "inbound", agent,
                        customer, bridge=f"sofia/gateway/carrier/{customer}", hangup_cause=cause,
                        context="default")]  # fmt: skip
        else:
            answered = kind != "abandoned"
            end = t + ring + (talk if answered else rng.randint(5, 90))
            cc = {"cc_side": "member", "cc_queue": f"{queue}@default"} if kind != "direct" else {}
            if answered and cc:
                cc.update(cc_agent=f"{agent}@default", cc_queue_answered_epoch=str(t + ring))
            if kind == "direct":
                cc["bridge_channel"] = f"sofia/internal/{agent}@10.0.0.3"
            member = _fs(a, t, t + 1, end, "sofia/external/" + customer, "inbound", customer, DID,
                         sip_gateway_name="carrier", **cc)  # fmt: skip
            docs = [member]
            if answered:
                side = {"cc_side": "agent", "cc_member_session_uuid": a, "cc_agent": f"{agent}@default"} if cc else {}
                chan = f"sofia/internal/{agent}@10.0.0.3"
                docs.append(_fs(f"{a[:-1]}b", t + ring - 2, t + ring, end, chan, "outbound",
                                customer, agent, originating_leg_uuid=a if not cc else "", **side))  # fmt: skip
        for doc in docs:
            (target / f"{doc['variables']['uuid']}.cdr.json").write_bytes(orjson.dumps(doc))
    return target


def _fs(uuid, start, answer, end, chan, direction, cid, dest, bridge=None, context="public", **variables) -> dict:
    v = {"uuid": uuid, "direction": direction, "start_epoch": str(start), "answer_epoch": str(answer),
         "end_epoch": str(end), "billsec": str(end - answer if answer else 0), "hangup_cause": "NORMAL_CLEARING",
         "accountcode": "demo"}  # fmt: skip
    if bridge:
        v["bridge_channel"] = bridge
    v.update({k: str(x) for k, x in variables.items() if x != ""})
    profile = {
        "uuid": uuid,
        "chan_name": chan,
        "caller_id_number": cid,
        "destination_number": dest,
        "context": context,
    }
    return {"variables": v, "callflow": [{"caller_profile": profile}], "channel_data": {"direction": direction}}


def load_demo(
    engine: Engine, account_id: str, kind: str, data_dir: Path, n: int, days: int, zone: str
) -> tuple[Path, Summary]:
    """Write the PBX files of n calls into data_dir/pbx-demo and import them into the account."""
    if kind not in KINDS:
        raise ValueError(f"--from must be one of {', '.join(KINDS)}, not {kind!r}")
    folder = Path(data_dir) / "pbx-demo"
    folder.mkdir(parents=True, exist_ok=True)
    mapping = Mapping(timezone=zone)
    if kind == "asterisk":
        path = write_asterisk(folder, n, days, ZoneInfo(zone))
        return path, load(engine, account_id, asterisk.read(path, mapping))
    path = write_freeswitch(folder, n, days, ZoneInfo(zone))
    return path, load(engine, account_id, freeswitch.read([path], mapping))

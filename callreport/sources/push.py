"""What mod_json_cdr posts to /api/v2/sources/freeswitch (http/push.py), stored before the 200 (§11).

FreeSWITCH keeps and retries a CDR it could not post, so every answer but 200 means "send it
again": 401 for bad credentials, 400 for a body it cannot read, 503 while the database is away.
Each post is one channel's CDR; the legs of a call are kept (source_legs) and the call rebuilt
from all of them, so A and B legs posted one by one, or twice, become one record.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time

from sqlalchemy.engine import Connection, Engine

from callreport import db, errors, metrics
from callreport.repo import accounts as accounts_repo
from callreport.repo import calls as queries
from callreport.repo import sources as sources_repo
from callreport.sources import credentials, freeswitch
from callreport.sources.credentials import Source
from callreport.sources.legs import Channels
from callreport.sources.mapping import Mapping
from callreport.sources.merge import build
from callreport.sources.store import record_row

log = logging.getLogger("callreport.sources")
KEY_SIZE = 255  # source_legs.call_key and leg_id
PRUNE_EVERY = 60.0  # seconds between two prunes of old legs by one process
_pruning = {"at": -PRUNE_EVERY}  # monotonic time of this process's last prune
_prune_lock = threading.Lock()


class Unauthorized(errors.InvalidToken):
    """Bad or revoked Basic credentials: 401, with the challenge FreeSWITCH's curl answers."""

    http_status = 401


def basic_credentials(header: str | None) -> tuple[str, str]:
    """(username, password) of an Authorization: Basic header, or Unauthorized."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("Send HTTP Basic credentials from `callreport source create freeswitch`.")
    try:
        username, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The Basic credentials are not base64 of username:password.") from None
    if not sep or not username or len(username) > 200 or len(password) > 200:
        raise Unauthorized("The Basic credentials are not username:password.")
    return username, password


def prune_due() -> bool:
    """True at most once every PRUNE_EVERY seconds in this process (and then it is this caller's turn)."""
    now = time.monotonic()
    with _prune_lock:
        if now - _pruning["at"] < PRUNE_EVERY:
            return False
        _pruning["at"] = now
        return True


def prune_legs(engine: Engine, hours: float) -> int:
    """Forget the legs of calls whose last leg came more than `hours` ago; how many (0 when it failed)."""
    try:
        with db.writing(engine) as conn:
            removed = sources_repo.prune_legs(conn, int(time.time() - hours * 3600))
    except Exception as exc:  # the call is stored: the 200 stands, the next prune tries again
        log.warning("freeswitch push: pruning old legs failed: %s", exc.__class__.__name__)
        return 0
    if removed:
        log.info("freeswitch push: %s legs of calls older than %s h pruned", removed, hours)
    return removed


def receive(engine: Engine, username: str, password: str, raw: bytes) -> dict:
    """Check the credentials, read the body, keep the leg and store its call (in one transaction)."""
    with engine.connect() as conn:
        source = credentials.verify(conn, username, password)
        zone = accounts_repo.account_timezone(conn, source.account_id) if source else None
    if source is None:
        raise Unauthorized("Unknown or revoked source credentials.")
    mapping = Mapping(timezone=zone or "UTC", include_internal=source.include_internal)
    try:
        doc = freeswitch.document(raw)
        leg = freeswitch.leg(doc, "push", mapping, Channels(mapping))
    except freeswitch.BadDocument as exc:
        raise errors.InvalidRequestData(f"The CDR {exc}.").with_status(400) from None
    if len(leg.key) > KEY_SIZE or len(leg.leg_id) > KEY_SIZE:
        raise errors.InvalidRequestData("The CDR's uuid is longer than 255 characters.").with_status(400)
    with db.writing(engine) as conn:
        _keep_leg(conn, source, leg.key, leg.leg_id, _slim(doc))
        outcome = _call(conn, source, leg.key, mapping)
        if outcome.record is None:
            return {"stored": False}
        inserted, updated = queries.upsert(
            conn,
            source.account_id,
            [record_row(source.account_id, outcome.record, int(time.time()))],
            only_changed=True,
        )
    metrics.imported("freeswitch", inserted + updated)  # after the commit: a rolled-back push counts nothing
    return {"stored": True, "callId": outcome.record["callId"]}


def _slim(doc: dict) -> dict:
    """What freeswitch.leg reads of a document (its variables, last caller profile and direction)."""
    flow = doc.get("callflow")
    last = flow[0] if isinstance(flow, list) and flow else flow
    profile = last.get("caller_profile") if isinstance(last, dict) else None
    channel = doc.get("channel_data")
    direction = channel.get("direction") if isinstance(channel, dict) else None
    return {
        "variables": doc["variables"],
        "callflow": {"caller_profile": profile or {}},
        "channel_data": {"direction": direction},
    }


def _keep_leg(conn: Connection, source: Source, key: str, leg_id: str, document: dict) -> None:
    sources_repo.keep_leg(conn, source.id, key, leg_id, document, int(time.time()))


def _call(conn: Connection, source: Source, key: str, mapping: Mapping):
    """The call of every leg this source sent under the key, as one outcome."""
    docs = sources_repo.legs(conn, source.id, key)
    channels = Channels(mapping)
    legs = [freeswitch.leg(doc, leg_id, mapping, channels) for doc, leg_id in docs]
    return build(legs, mapping)

"""Sealed list cursors (§7): the position after which the next page starts, bound to its user,
filter and sort, readable only by this service.

The plaintext is a fixed head (issue time, sort, a tag of the user, a digest of the filter),
then the position as JSON [sort value, callId]; `sealing` encrypts and authenticates it.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from time import time as epoch_now
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callreport import filters, record, sealing

# A cursor stays valid this long after it was made (the contract asks for at least 24 hours).
CURSOR_TTL_SECONDS = 48 * 3600
CURSOR_PURPOSE = b"callreport list cursor"
# Each sort's code is fixed in record.py, so cursors already issued keep their meaning.
SORT_CODES = {(f.name, o): 2 * f.sort_code + (o == "desc") for f in record.SORTS for o in ("asc", "desc")}
# issued (s), sort code, user tag, filter digest; then the position as JSON [value, callId].
CURSOR_HEAD = struct.Struct(">QB8s16s")


def filter_digest(r: filters.Resolved) -> bytes:
    """A digest of the filter as it selects: its values, resolved times, timezone and sort."""
    f = r.filter
    values = f.model_dump(
        mode="json", include=set(filters.CallFilter.model_fields) - {"startDate", "endDate", "timezone"}
    )
    for name, value in values.items():
        if isinstance(value, list):  # a list filter is a set: its order and repeats change nothing
            values[name] = sorted({orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() for v in value})
    values.update(start=r.start_ts, end=r.end_ts, timezone=r.timezone)
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).digest()[:16]


def _user_tag(user_id: str) -> bytes:
    return hashlib.sha256(user_id.encode()).digest()[:8]


def encode_cursor(
    aead: AESGCM, user_id: str, r: filters.Resolved, value: Any, call_id: str, now: int | None = None
) -> str:
    """A sealed cursor for the row after which the next page starts, bound to user, filter and sort."""
    issued = int(epoch_now()) if now is None else now
    sort = SORT_CODES[(r.filter.sortBy, r.filter.sortOrder)]
    head = CURSOR_HEAD.pack(issued, sort, _user_tag(user_id), filter_digest(r))
    return sealing.seal(aead, head + orjson.dumps([value, call_id]), CURSOR_PURPOSE)


def decode_cursor(
    aead: AESGCM, user_id: str, r: filters.Resolved, cursor: str, now: int | None = None
) -> tuple[Any, str]:
    """The (sort value, callId) of a cursor made for this user, filter and sort; ValueError otherwise."""
    try:
        plain = sealing.unseal(aead, cursor, CURSOR_PURPOSE)
        issued, sort, user, digest = CURSOR_HEAD.unpack_from(plain)
        value, call_id = orjson.loads(plain[CURSOR_HEAD.size :])
    except (ValueError, TypeError, struct.error):  # sealing.Unsealable, orjson's errors: ValueErrors
        raise ValueError("is not a cursor this service made, or was altered") from None
    f = r.filter
    if not hmac.compare_digest(user, _user_tag(user_id)):
        raise ValueError("was made for another user")
    if sort != SORT_CODES[(f.sortBy, f.sortOrder)]:
        raise ValueError("was made for another sortBy or sortOrder")
    if not hmac.compare_digest(digest, filter_digest(r)):
        raise ValueError("was made for other filters or another timezone")
    if (int(epoch_now()) if now is None else now) - issued > CURSOR_TTL_SECONDS:
        raise ValueError(f"has expired (cursors last {CURSOR_TTL_SECONDS // 3600} hours); start again from page 1")
    col = filters.SORT_COLUMNS[f.sortBy]
    # Defence in depth: the value must fit the column, or the comparison is a database error.
    number = type(value) is int and abs(value) < filters.int_bound(col)
    fits = (value is None and col.nullable) or (isinstance(value, str) if f.sortBy in filters.TEXT_SORTS else number)
    if not isinstance(call_id, str) or not fits:
        raise ValueError("is not a cursor this service made")
    return value, call_id

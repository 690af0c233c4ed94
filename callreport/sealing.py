"""Sealed tokens: authenticated encryption under server keys that every process shares.

A server key is made once per name in `server_keys` (insert if absent, then read: every process
and every restart ends up with the same one) and cached per engine, so no request queries it.
`seal` and `unseal` are AES-256-GCM with a random 96-bit nonce, in URL-safe base64.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import threading
import time
import weakref

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine

from callreport import db
from callreport.repo import accounts as accounts_repo

NONCE_BYTES = 12
TAG_BYTES = 16
# One byte in front of every token names its format, so the format (or the key) can change later.
VERSION = b"\x01"

_cache: weakref.WeakKeyDictionary[Engine, dict[str, AESGCM]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class Unsealable(ValueError):
    """A token that is not one this server sealed under this purpose (garbage or altered)."""


def _stored_key(engine: Engine, name: str) -> bytes:
    """The named key from the database, made first if absent (race-free on both databases)."""
    with db.writing(engine) as conn:
        secret = accounts_repo.server_key(conn, name, secrets.token_hex(32), int(time.time()))
    return bytes.fromhex(secret)


def cipher(engine: Engine, name: str) -> AESGCM:
    """The AEAD of the named server key, looked up once per engine."""
    keys = _cache.get(engine)
    if keys is not None and name in keys:
        return keys[name]
    with _lock:
        keys = _cache.setdefault(engine, {})
        if name not in keys:
            keys[name] = AESGCM(_stored_key(engine, name))
        return keys[name]


def forget(engine: Engine) -> None:
    """Drop the engine's cached keys (tests simulate a restart with it)."""
    with _lock:
        _cache.pop(engine, None)


def seal(aead: AESGCM, plaintext: bytes, purpose: bytes) -> str:
    """The plaintext encrypted and authenticated (with purpose as associated data), URL-safe."""
    nonce = os.urandom(NONCE_BYTES)
    # Random nonces: the chance of a repeat stays below 2**-32 for the first 2**32 tokens of a key.
    raw = VERSION + nonce + aead.encrypt(nonce, plaintext, purpose)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unseal(aead: AESGCM, token: str, purpose: bytes) -> bytes:
    """The plaintext of a token made by seal() with this key and purpose; Unsealable otherwise."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise Unsealable("is not a token this service made") from None
    if len(raw) < 1 + NONCE_BYTES + TAG_BYTES or raw[:1] != VERSION:
        raise Unsealable("is not a token this service made")
    nonce, body = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
    try:
        return aead.decrypt(nonce, body, purpose)
    except InvalidTag:
        raise Unsealable("was altered or was not made by this service") from None

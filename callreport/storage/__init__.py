"""Where finished export files live: a local folder (local.py) or an S3-compatible bucket (s3.py).

Both implementations share one contract (``Storage``): an object appears only once it is
complete, reads stream in chunks, a missing object is ``StorageMissing`` and anything
else that goes wrong is ``StorageError`` with a message that is safe to log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

CHUNK_SIZE = 1 << 20


class StorageMissing(Exception):
    """The object is not in storage."""


class StorageError(Exception):
    """Storage is unreachable or failed; the message is safe to log."""


class Storage(Protocol):
    """The operations the service needs from a file store."""

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at path under key; the object becomes visible only complete."""

    def size(self, key: str) -> int:
        """The object's size in bytes; StorageMissing if absent."""

    def iter_bytes(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the object; StorageMissing (raised by this call) if absent."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is fine."""

    def exists(self, key: str) -> bool:
        """Whether the object is there."""

    def check(self) -> None:
        """Raise StorageError when storage cannot be used (health check)."""

    def ping(self, timeout: float = 2.0) -> None:
        """Raise StorageError unless storage answers within about timeout seconds (readiness)."""


def check_key(key: str) -> str:
    """Return key if it is a safe relative name of '/'-separated parts, else raise ValueError."""
    # Keys come from our own code, but one that climbs out of the root must never reach the disk.
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"unsafe storage key: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"unsafe storage key: {key!r}")
    return key


def from_url(url: str, s3_endpoint_url: str | None = None) -> Storage:
    """Build the storage a URL names: file:///path or s3://bucket/prefix."""
    parts = urlsplit(url)
    # Messages name the scheme only: a URL may carry things that do not belong in logs.
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError("a storage URL takes no credentials, query or fragment")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not os.path.isabs(path):
            raise ValueError("a file storage URL must be file:///absolute/path")
        from callreport.storage.local import LocalStorage

        return LocalStorage(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("an S3 storage URL must be s3://bucket/prefix")
        # Imported here: boto3 is loaded only by a service that stores in S3.
        from callreport.storage.s3 import S3Storage

        return S3Storage(parts.netloc, unquote(parts.path), s3_endpoint_url or None)
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r}; use file:// or s3://")

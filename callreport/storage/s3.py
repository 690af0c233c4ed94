"""Storage in an S3-compatible bucket: one thread-safe boto3 client, bounded timeouts, multipart uploads."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from callreport.storage import CHUNK_SIZE, StorageError, StorageMissing, check_key

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_FAILURES = (ClientError, BotoCoreError, S3UploadFailedError, OSError)
# Above 8 MiB uploads go in parts; S3 shows the object only when the last part is joined.
_TRANSFER = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)


def _client_error(exc: BaseException) -> ClientError | None:
    """The ClientError behind exc, looking through boto3's S3UploadFailedError wrapper."""
    if isinstance(exc, S3UploadFailedError):
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc if isinstance(exc, ClientError) else None


def _error_code(exc: BaseException) -> str:
    error = _client_error(exc)
    return "" if error is None else str(error.response.get("Error", {}).get("Code", ""))


def _translate(exc: BaseException, action: str, key: str, missing_ok: bool = True) -> Exception:
    """The StorageMissing or StorageError that stands for a boto failure."""
    error = _client_error(exc)
    if error is not None:
        if missing_ok and _error_code(error) in _MISSING_CODES:
            return StorageMissing(key)
        return StorageError(f"S3 {action} of {key!r} failed: {error}")
    return StorageError(f"S3 {action} of {key!r} failed: {type(exc).__name__}: {exc}")


def _boto_config(endpoint_url: str | None) -> Config:
    # Bounded: a dead endpoint fails within about 3 x 5 s instead of hanging a request.
    options: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 60,
        "retries": {"total_max_attempts": 3, "mode": "standard"},
        # S3-compatible stores (MinIO, Ceph, moto) may not accept the newer default checksums.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    if endpoint_url:
        options["s3"] = {"addressing_style": "path"}
    return Config(**options)


class S3Storage:
    """Objects in an S3 bucket under a key prefix; one thread-safe client, made on first use."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = "/".join(part for part in prefix.split("/") if part)
        self.endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._s3: Any = None
        self._quick: tuple[float, Any] | None = None
        self._bucket_ready = False

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r}, {self.prefix!r}, {self.endpoint_url!r})"

    def _client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                try:
                    session = boto3.session.Session()
                    self._s3 = session.client(
                        "s3", endpoint_url=self.endpoint_url, config=_boto_config(self.endpoint_url)
                    )
                except BotoCoreError as exc:
                    raise StorageError(f"S3 client cannot be created: {exc}") from exc
            return self._s3

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _ensure_bucket(self) -> None:
        """Create the bucket if it is missing (handy on MinIO or moto); once per instance."""
        if self._bucket_ready:
            return
        client = self._client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except _FAILURES as exc:
            code = _error_code(exc)
            if code in _MISSING_CODES:
                self._create_bucket(client)
            elif code not in ("403", "AccessDenied"):  # may lack ListBucket yet be allowed to write
                raise _translate(exc, "bucket check", self.bucket, missing_ok=False) from exc
        self._bucket_ready = True

    def _create_bucket(self, client: Any) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket}
        region = client.meta.region_name
        if region and region not in ("us-east-1", "aws-global"):
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            client.create_bucket(**args)
        except _FAILURES as exc:
            if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "AccessDenied", "403"):
                raise _translate(exc, "bucket creation", self.bucket, missing_ok=False) from exc

    def put_file(self, key: str, path: Path) -> None:
        """Upload the file (multipart when big); the object appears when the upload completes."""
        name = self._object_key(key)
        for attempt in range(2):
            self._ensure_bucket()
            try:
                self._client().upload_file(os.fspath(path), self.bucket, name, Config=_TRANSFER)
                return
            except _FAILURES as exc:
                if attempt == 0 and _error_code(exc) == "NoSuchBucket":
                    self._bucket_ready = False  # dropped behind our back (an in-memory store restarted)
                    continue
                raise _translate(exc, "upload", key, missing_ok=False) from exc

    def size(self, key: str) -> int:
        """The object's size from HEAD; StorageMissing if absent."""
        name = self._object_key(key)
        try:
            return int(self._client().head_object(Bucket=self.bucket, Key=name)["ContentLength"])
        except _FAILURES as exc:
            raise _translate(exc, "size", key) from exc

    def iter_bytes(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Start the GET now (StorageMissing if absent) and return an iterator over its body."""
        name = self._object_key(key)
        try:
            body = self._client().get_object(Bucket=self.bucket, Key=name)["Body"]
        except _FAILURES as exc:
            raise _translate(exc, "read", key) from exc
        return _body_chunks(body, key, chunk_size)

    def delete(self, key: str) -> None:
        """Delete the object; S3 answers success for a missing key, a missing bucket is fine too."""
        name = self._object_key(key)
        try:
            self._client().delete_object(Bucket=self.bucket, Key=name)
        except _FAILURES as exc:
            error = _translate(exc, "delete", key)
            if not isinstance(error, StorageMissing):
                raise error from exc

    def exists(self, key: str) -> bool:
        """Whether the object is there (HEAD)."""
        try:
            self.size(key)
        except StorageMissing:
            return False
        return True

    def ping(self, timeout: float = 2.0) -> None:
        """HEAD the bucket once with short timeouts; StorageError unless the store answers."""
        try:
            self._quick_client(timeout).head_bucket(Bucket=self.bucket)
        except _FAILURES as exc:
            # The store answered: a missing bucket is made by the first upload, and a 403 may
            # mean only that the user lacks ListBucket yet may write (as in _ensure_bucket).
            if _error_code(exc) not in (*_MISSING_CODES, "403", "AccessDenied"):
                raise _translate(exc, "ping", self.bucket, missing_ok=False) from exc

    def _quick_client(self, timeout: float) -> Any:
        """A client that tries once and gives up after timeout (the main one retries for ~15 s)."""
        with self._lock:
            if self._quick is None or self._quick[0] != timeout:
                config = _boto_config(self.endpoint_url).merge(
                    Config(
                        connect_timeout=timeout,
                        read_timeout=timeout,
                        retries={"total_max_attempts": 1, "mode": "standard"},
                    )
                )
                try:
                    client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, config=config)
                except BotoCoreError as exc:
                    raise StorageError(f"S3 client cannot be created: {exc}") from exc
                self._quick = (timeout, client)
            return self._quick[1]

    def check(self) -> None:
        """HEAD the bucket, creating it when missing; StorageError when that fails."""
        for attempt in range(2):
            try:
                self._client().head_bucket(Bucket=self.bucket)
                return
            except _FAILURES as exc:
                if attempt == 0 and _error_code(exc) in _MISSING_CODES:
                    self._bucket_ready = False
                    self._ensure_bucket()
                    continue
                raise _translate(exc, "bucket check", self.bucket, missing_ok=False) from exc


def _body_chunks(body: Any, key: str, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    except _FAILURES as exc:
        raise _translate(exc, "read", key, missing_ok=False) from exc
    finally:
        body.close()

"""The storage contract, checked the same way on a local folder and on S3 (moto's server)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import boto3
import pytest

from callreport.storage import Storage, StorageError, StorageMissing, from_url
from callreport.storage.local import LocalStorage
from callreport.storage.s3 import S3Storage
from tests.fixtures.s3 import MotoServer, free_port, unique_bucket

UNSAFE_KEYS = ["", "../x", "a/../../x", "a/..", "/etc/passwd", "a//b", "./a", "a/./b", "a\\b", "a\x00b"]


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each behaviour test runs once per implementation."""
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return request.getfixturevalue("s3_storage")


def write(path: Path, data: bytes) -> Path:
    """Write data to path and return the path."""
    path.write_bytes(data)
    return path


def read_all(storage: Storage, key: str, chunk_size: int = 1 << 20) -> bytes:
    """The object's bytes, gathered from the stream."""
    return b"".join(storage.iter_bytes(key, chunk_size))


def test_multi_mb_round_trip_is_byte_exact(storage: Storage, tmp_path: Path) -> None:
    # 9 MiB is above the 8 MiB multipart threshold, so S3 goes through a multipart upload.
    data = random.Random(7).randbytes(9 * 1024 * 1024 + 123)
    source = write(tmp_path / "source.bin", data)
    storage.put_file("exports/big.bin", source)
    source.unlink()  # the stored object must not depend on the source file

    assert storage.size("exports/big.bin") == 9 * 1024 * 1024 + 123
    chunks = list(storage.iter_bytes("exports/big.bin", chunk_size=1 << 20))
    assert len(chunks) >= 9
    assert all(0 < len(chunk) <= 1 << 20 for chunk in chunks)
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == hashlib.sha256(data).hexdigest()


def test_empty_file_round_trip(storage: Storage, tmp_path: Path) -> None:
    storage.put_file("empty.csv", write(tmp_path / "empty", b""))
    assert storage.exists("empty.csv")
    assert storage.size("empty.csv") == 0
    assert read_all(storage, "empty.csv") == b""


def test_keys_with_subfolders_are_separate_objects(storage: Storage, tmp_path: Path) -> None:
    storage.put_file("a/b/c.csv", write(tmp_path / "1", b"one"))
    storage.put_file("a/d.csv", write(tmp_path / "2", b"second"))
    assert read_all(storage, "a/b/c.csv") == b"one"
    assert read_all(storage, "a/d.csv") == b"second"
    assert storage.size("a/d.csv") == 6
    # A "folder" is not an object.
    assert not storage.exists("a")
    assert not storage.exists("a/b")
    with pytest.raises(StorageMissing):
        storage.size("a/b")
    with pytest.raises(StorageMissing):
        storage.iter_bytes("a")


def test_put_replaces_an_existing_object(storage: Storage, tmp_path: Path) -> None:
    storage.put_file("r.csv", write(tmp_path / "old", b"old content, longer"))
    storage.put_file("r.csv", write(tmp_path / "new", b"new"))
    assert read_all(storage, "r.csv") == b"new"
    assert storage.size("r.csv") == 3


def test_missing_key_raises_storage_missing(storage: Storage) -> None:
    with pytest.raises(StorageMissing):
        storage.size("nope/never.csv")
    # Raised by the call itself, so a download can answer "File Not Exists" before streaming.
    with pytest.raises(StorageMissing):
        storage.iter_bytes("nope/never.csv")
    assert storage.exists("nope/never.csv") is False


def test_delete_is_idempotent(storage: Storage, tmp_path: Path) -> None:
    storage.put_file("gone/x.pdf", write(tmp_path / "x", b"%PDF"))
    assert storage.exists("gone/x.pdf") is True
    storage.delete("gone/x.pdf")
    assert storage.exists("gone/x.pdf") is False
    with pytest.raises(StorageMissing):
        storage.size("gone/x.pdf")
    storage.delete("gone/x.pdf")
    storage.delete("never/was.pdf")


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_rejected(storage: Storage, tmp_path: Path, key: str) -> None:
    source = write(tmp_path / "evil", b"evil")
    for call in (
        lambda: storage.put_file(key, source),
        lambda: storage.size(key),
        lambda: storage.iter_bytes(key),
        lambda: storage.delete(key),
        lambda: storage.exists(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert not (tmp_path / "x").exists()


def test_check_passes_on_usable_storage(storage: Storage) -> None:
    storage.check()
    storage.check()


def test_concurrent_puts_and_reads(storage: Storage, tmp_path: Path) -> None:
    def round_trip(n: int) -> bytes:
        data = f"file {n}\n".encode() * (n + 1)
        storage.put_file(f"threads/{n}.txt", write(tmp_path / f"t{n}", data))
        return read_all(storage, f"threads/{n}.txt", chunk_size=7)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(16)))
    assert results == [f"file {n}\n".encode() * (n + 1) for n in range(16)]


# --- local folder specifics -------------------------------------------------------------


def _failing_copy(fail_with: BaseException) -> Callable[[IO[bytes], IO[bytes], int], None]:
    """A copyfileobj that writes part of the data and then fails, as a full disk would."""

    def copy(src: IO[bytes], dst: IO[bytes], length: int = 0) -> None:
        dst.write(src.read(1000))
        dst.flush()
        raise fail_with

    return copy


@pytest.mark.parametrize("fail_with", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_local_put_that_fails_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_with: BaseException
) -> None:
    store = LocalStorage(tmp_path / "store")
    store.put_file("keep/old.csv", write(tmp_path / "old", b"previous complete file"))
    monkeypatch.setattr(shutil, "copyfileobj", _failing_copy(fail_with))

    source = write(tmp_path / "src", b"x" * 5000)
    expected = StorageError if isinstance(fail_with, OSError) else RuntimeError
    with pytest.raises(expected):
        store.put_file("keep/new.csv", source)
    with pytest.raises(expected):
        store.put_file("keep/old.csv", source)

    assert not store.exists("keep/new.csv")
    assert read_all(store, "keep/old.csv") == b"previous complete file"
    assert sorted(p.name for p in (tmp_path / "store" / "keep").iterdir()) == ["old.csv"]


def test_local_target_is_invisible_until_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStorage(tmp_path / "store")
    real_copy = shutil.copyfileobj
    seen_during_copy: list[bool] = []

    def watching_copy(src: IO[bytes], dst: IO[bytes], length: int = 0) -> None:
        real_copy(src, dst, length)
        seen_during_copy.append(store.exists("k/file.bin"))

    monkeypatch.setattr(shutil, "copyfileobj", watching_copy)
    store.put_file("k/file.bin", write(tmp_path / "src", b"abc" * 1000))
    assert seen_during_copy == [False]
    assert read_all(store, "k/file.bin") == b"abc" * 1000
    assert [p.name for p in (tmp_path / "store" / "k").iterdir()] == ["file.bin"]


def test_local_put_of_a_vanished_source_fails_cleanly(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    with pytest.raises(StorageError):
        store.put_file("a/b.csv", tmp_path / "does-not-exist")
    assert not store.exists("a/b.csv")
    assert list((tmp_path / "store" / "a").iterdir()) == []


def test_local_symlink_out_of_the_root_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "store").mkdir()
    os.symlink(outside, tmp_path / "store" / "link")
    store = LocalStorage(tmp_path / "store")
    with pytest.raises(ValueError):
        store.put_file("link/x.csv", write(tmp_path / "src", b"data"))
    assert list(outside.iterdir()) == []


def test_local_check_fails_when_root_is_a_file(tmp_path: Path) -> None:
    write(tmp_path / "not-a-folder", b"")
    with pytest.raises(StorageError):
        LocalStorage(tmp_path / "not-a-folder").check()


# --- S3 specifics -------------------------------------------------------------------------


def test_s3_objects_live_under_the_prefix(s3_storage: S3Storage, tmp_path: Path) -> None:
    s3_storage.put_file("2024/r.csv", write(tmp_path / "r", b"a,b\n"))
    client = boto3.client("s3", endpoint_url=s3_storage.endpoint_url)
    listed = client.list_objects_v2(Bucket=s3_storage.bucket)
    assert [item["Key"] for item in listed["Contents"]] == ["exports/2024/r.csv"]
    assert client.get_object(Bucket=s3_storage.bucket, Key="exports/2024/r.csv")["Body"].read() == b"a,b\n"


def test_s3_missing_bucket_reads_as_missing(s3_env: dict[str, str], moto_server: MotoServer) -> None:
    store = S3Storage(unique_bucket(), "", moto_server.url)
    assert store.exists("x") is False
    with pytest.raises(StorageMissing):
        store.iter_bytes("x")
    store.delete("x")


def test_s3_failure_and_recovery(s3_env: dict[str, str], private_moto_server: MotoServer, tmp_path: Path) -> None:
    store = S3Storage(unique_bucket(), "p", private_moto_server.url)
    source = write(tmp_path / "src", b"payload")
    store.put_file("k.csv", source)
    store.check()

    private_moto_server.stop()
    started = time.monotonic()
    for call in (
        lambda: store.size("k.csv"),
        lambda: store.exists("k.csv"),
        lambda: store.iter_bytes("k.csv"),
        lambda: store.put_file("k2.csv", source),
        lambda: store.delete("k.csv"),
        store.check,
    ):
        with pytest.raises(StorageError) as info:
            call()
        assert "testing" not in str(info.value)  # the fake secret never appears in a message
    assert time.monotonic() - started < 30

    private_moto_server.start()  # a new, empty in-memory store on the same port
    store.put_file("k2.csv", source)
    assert read_all(store, "k2.csv") == b"payload"
    store.check()


def test_s3_dead_endpoint_fails_fast(s3_env: dict[str, str]) -> None:
    store = S3Storage("bucket", "", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StorageError):
        store.check()
    assert time.monotonic() - started < 30


# --- from_url ------------------------------------------------------------------------------


def test_from_url_file(tmp_path: Path) -> None:
    store = from_url(tmp_path.as_uri())
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path
    spaced = tmp_path / "with space é"
    store = from_url(spaced.as_uri(), "http://ignored.example")
    assert isinstance(store, LocalStorage) and store.root == spaced
    assert from_url("file://localhost" + tmp_path.as_posix()).root == tmp_path  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://reports/callreport/exports", "reports", "callreport/exports"),
        ("s3://reports/callreport/", "reports", "callreport"),
        ("s3://reports", "reports", ""),
        ("s3://reports/", "reports", ""),
    ],
)
def test_from_url_s3(url: str, bucket: str, prefix: str) -> None:
    # Nothing listens on this port: building the storage must not touch the network.
    store = from_url(url, "http://127.0.0.1:9")
    assert isinstance(store, S3Storage)
    assert (store.bucket, store.prefix, store.endpoint_url) == (bucket, prefix, "http://127.0.0.1:9")
    assert from_url(url).endpoint_url is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "",
        "relative/path",
        "http://host/x",
        "s3://",
        "s3:///prefix",
        "file://otherhost/x",
        "file:relative",
        "s3://key:secret@bucket/p",
        "s3://bucket/p?x=1",
    ],
)
def test_from_url_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError) as info:
        from_url(url)
    assert "secret" not in str(info.value)

"""Storage in a local folder: objects as files, written to a temp file, fsynced, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from callreport.storage import CHUNK_SIZE, StorageError, StorageMissing, check_key


class LocalStorage:
    """Objects as files under one folder; keys with '/' become subfolders."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # A symlink inside the root could still point outside it.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"unsafe storage key: {key!r}")
        return path

    def put_file(self, key: str, path: Path) -> None:
        """Copy to a temp file beside the target, fsync, then rename over it."""
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        except OSError as exc:
            raise StorageError(f"local storage cannot write {key!r}: {_reason(exc)}") from exc
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK_SIZE)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            # Whatever stopped the copy, no partial file may stay behind.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise StorageError(f"local storage cannot write {key!r}: {_reason(exc)}") from exc
            raise
        _fsync_dir(target.parent)

    def size(self, key: str) -> int:
        """The file's size; StorageMissing if there is no such file."""
        try:
            info = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise StorageMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"local storage cannot stat {key!r}: {_reason(exc)}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise StorageMissing(key)
        return info.st_size

    def iter_bytes(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Open the file now (StorageMissing if absent) and return an iterator over its chunks."""
        try:
            src = open(self._path(key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise StorageMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"local storage cannot read {key!r}: {_reason(exc)}") from exc
        return _file_chunks(src, key, chunk_size)

    def delete(self, key: str) -> None:
        """Remove the file if it is there."""
        try:
            os.unlink(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            raise StorageError(f"local storage cannot delete {key!r}: {_reason(exc)}") from exc

    def exists(self, key: str) -> bool:
        """Whether a file is stored under key."""
        return self._path(key).is_file()

    def check(self) -> None:
        """Make sure the root folder exists and is writable."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise StorageError(f"local storage folder is not usable: {_reason(exc)}") from exc

    def ping(self, timeout: float = 2.0) -> None:
        """Make sure a file can be made in the folder (or, before the first export, in its parent)."""
        # No mkdir here: creating a missing folder would hide an unmounted volume behind an empty one.
        folder = self.root if self.root.exists() else self.root.parent
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise StorageError(f"local storage folder is not usable: {_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    # strerror names the problem without the machine's paths.
    return exc.strerror or type(exc).__name__


def _file_chunks(src: IO[bytes], key: str, chunk_size: int) -> Iterator[bytes]:
    with src:
        try:
            while chunk := src.read(chunk_size):
                yield chunk
        except OSError as exc:
            raise StorageError(f"local storage failed reading {key!r}: {_reason(exc)}") from exc


def _fsync_dir(folder: Path) -> None:
    # Makes the rename durable; some filesystems cannot fsync a folder, which is harmless.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""Files: atomic writes and content digests, for every module that writes or checks a file."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import (os.umask cannot be read without setting it)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_write`)."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call `write(binary_file)` on a temp file beside `path`, fsync, then rename: never a
    half-written file under the final name.

    The new file keeps the permissions of the one it replaces (a new one gets the usual
    0666 & ~umask, not mkstemp's 0600), and a symbolic link is written through, not replaced.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file():  # a folder, a device (/dev/full), a pipe: never renamed over
        raise OSError(f"{path} is not a regular file: not replaced")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            try:
                os.fchmod(handle.fileno(), mode)
            except (AttributeError, OSError):  # no fchmod (Windows): mkstemp's mode it is
                pass
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's content, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_digests: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: str | os.PathLike) -> str:
    """sha256_file, computed once per file version (path, size, modification time) in a run:
    the benchmark's files are checked on every load, and hashing them costs seconds."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_file(path)
    return _digests[key]

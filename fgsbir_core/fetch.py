"""Download the QMUL V1 benchmark files from their pinned public location, checked by SHA-256.

`fgsbir data fetch qmul-v1` and the app's "get the benchmark" action call `fetch_qmul_v1`.

* The source is one fixed commit of the public repository yuqian1023/Deep_SBIR_tf (data/), and
  every file must match the SHA-256 digest embedded below (the same list is written to
  ``SHA256SUMS`` in the destination, which `fgsbir_core.data` checks on every load).
* Each file is downloaded to ``<name>.part`` and only renamed to its final name once complete
  and verified, so a final name never holds a partial or wrong file.  A ``.part`` left by an
  interrupted run (cancel, Ctrl-C, dropped connection) is resumed with an HTTP Range request;
  a server that ignores Range is handled by starting the file again.  A dropped connection is
  retried a few times, resuming where it stopped.
* Files already present with the right digest are skipped.
* The colour photos (``<cat>_image_db_{train,test}.mat``, shoes and chairs) are optional: they
  have no published digest here (accepted as downloaded, same ``.part`` discipline) and a
  missing one (HTTP 404) is skipped with a notice.  The app shows edge maps without them.

Not provided by the download: ``attributes/`` (per-photo attribute labels and their taxonomy).
They were made for this project and are not part of the published release; they are only
needed to *train* the multi-task models.  Searching, the app and `fgsbir query` use the
attributes the bundled model predicts, so a fetched data root is complete for them.
"""
from __future__ import annotations

import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from .data import CATEGORIES, DATA_ENV, DataError
from .files import atomic_write_bytes, sha256_file

PINNED_URL: Final = "https://raw.githubusercontent.com/yuqian1023/Deep_SBIR_tf/7cad9b22f04deb1dbdeebd469e0d86c5ef67edc1/data"

# relative path -> (SHA-256, size in bytes), as published at PINNED_URL
QMUL_V1_FILES: Final[dict[str, tuple[str, int]]] = {
    "chairs/chairs_annotation.json": ("559859e80991856334fd3ee84408a4d225255b1017b029aa95b95784a672a917", 2735204),
    "chairs/chairs_edge_db_test.mat": ("d429cd73c92c1a6ceef3262f18a0c9acc135a4e8136fa04fbdd0bf4bc7a1be8a", 1387535),
    "chairs/chairs_edge_db_train.mat": ("4f21547d8c4466fcd86746d003ac148aa26bee9e834bfc341a40c62318b1c6a2", 3011385),
    "chairs/chairs_sketch_db_test.mat": ("ebe92e8826ffc2011ad420e94a9bb5cffbe2ea0fc72908480c062909d77bc237", 868895),
    "chairs/chairs_sketch_db_train.mat": ("6d50d1aef109c7514439e1527735455596728aa973e2914e64a8850789d8f89f", 1715828),
    "handbags/handbags_edge_db_test.mat": ("11046166a2849ff819bd7536561b723227db7fbc5e3be7b9e1fb8952e8f2689a", 1244880),
    "handbags/handbags_edge_db_train.mat": ("9cb6d640a7d0eb3eae98d63107bacd22d1391b70089ff3b78ca479f5b928a3c2", 2956237),
    "handbags/handbags_sketch_db_test.mat": ("1740095eaec5c58acca57c9331d30726c0199bbf8d14c49aab3c07ef40bf68af", 1564827),
    "handbags/handbags_sketch_db_train.mat": ("813ed639dd87872d6f512ba234f9d47d2744ddf63ac442336a722cc9d1899c05", 3713431),
    "handbags/handbags_triplets_train.mat": ("1354b1afc930f1f8645dcc8f31c8f920e1af296fee65d18f82f4ef147b33caa0", 2553792),
    "shoes/shoes_annotation.json": ("391ecb273e2f55b8cace9922caae120ba9e93b5a13d9f467961901142410ebd9", 4058296),
    "shoes/shoes_edge_db_test.mat": ("34ddbcec5f14e0b358b537a82063a2026156da0f079a8a39e0839ea475369fd3", 1425718),
    "shoes/shoes_edge_db_train.mat": ("ca1744d77c1674862e67d2f3fa4b07ff4d4a587017a4096275e977d3c7d73cc4", 3632438),
    "shoes/shoes_sketch_db_test.mat": ("5f66f4801287c79600c7272c1072a878046536d1d24555230493f4aec4c2c065", 822869),
    "shoes/shoes_sketch_db_train.mat": ("7e6d238778fed20226b9fa4e93747555862a5f695305e865fa90c65a22469dbe", 2148034),
    "shoes/shoes_train_triplets.mat": ("042e83b7098a216ad35abd2ba114cbe7ebc096c2018588f357b12206f08f766a", 340993),
}

# optional colour photos (no known digest)
PHOTO_FILES: Final = tuple(f"{c}/{c}_image_db_{p}.mat" for c in ("shoes", "chairs") for p in ("train", "test"))

CHUNK: Final = 1 << 16
Progress = Callable[[str, int, int], None]  # (file name, bytes done, total bytes or 0 if unknown)


def sha256sums_text() -> str:
    """The published digests in `sha256sum` format (what `fgsbir_core.data` reads)."""
    return "".join(f"{digest}  {name}\n" for name, (digest, _) in sorted(QMUL_V1_FILES.items()))


def default_data_dir() -> Path:
    """$FGSBIR_DATA if set, else the platform's per-user data folder + ``qmul_v1``.

    Linux: $XDG_DATA_HOME/sketchfind/qmul_v1 (~/.local/share/...); macOS:
    ~/Library/Application Support/SketchFind/qmul_v1; Windows: %APPDATA%\\SketchFind\\qmul_v1.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "SketchFind"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "SketchFind"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "sketchfind"
    return base / "qmul_v1"


class _NotFound(Exception):
    pass


def _select(categories: Iterable[str] | None, files: Iterable[str] | None) -> list[str]:
    if files is not None:
        names = list(files)
        unknown = [n for n in names if n not in QMUL_V1_FILES and n not in PHOTO_FILES]
        if unknown:
            raise DataError(f"Not a QMUL V1 file: {', '.join(unknown)}")
        return names
    cats = list(categories) if categories is not None else list(CATEGORIES)
    bad = [c for c in cats if c not in CATEGORIES]
    if bad:
        raise DataError(f"Unknown category {bad[0]!r}; choose from {', '.join(CATEGORIES)}")
    return [n for n in QMUL_V1_FILES if n.split("/")[0] in cats]


def fetch_qmul_v1(dest: str | os.PathLike | None = None, base_url: str = PINNED_URL, progress: Progress | None = None,
                  cancel: Callable[[], bool] | None = None, *, categories: Iterable[str] | None = None,
                  files: Iterable[str] | None = None, photos: bool = False, retries: int = 4,
                  timeout: float = 30.0, notice: Callable[[str], None] | None = None) -> Path:
    """Download (or complete) the QMUL V1 benchmark into `dest`; returns the data root.

    categories / files: a subset (default: every published file). photos: also try the
    optional colour photo files of shoes and chairs. Raises DataError (bad digest, not found,
    network down after `retries` tries) or InterruptedError when `cancel()` turns true; both
    leave only verified files under final names (a resumable ``.part`` may remain).
    """
    root = Path(dest).expanduser() if dest else default_data_dir()
    # the folders this makes, to take away again where nothing came
    made = [p for p in (*(root / c for c in CATEGORIES), root, *root.parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass  # writable (SHA256SUMS is written last: before, the folder would pass for a data root)
    except OSError as exc:
        raise DataError(f"Cannot write to the data folder {root}: {exc}") from exc
    try:
        _fetch_files(root, base_url, progress, cancel, categories, files, photos, retries, timeout, notice)
        atomic_write_bytes(root / "SHA256SUMS", sha256sums_text().encode())
    except BaseException:
        for folder in made:  # deepest first; only empty ones go (a resumable .part keeps its folder)
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    return root


def _fetch_files(root: Path, base_url: str, progress, cancel, categories, files, photos: bool, retries: int,
                 timeout: float, notice) -> None:
    say = notice or (lambda message: None)
    names = _select(categories, files)
    if photos and files is None:
        cats = set(categories) if categories is not None else set(CATEGORIES)
        names += [n for n in PHOTO_FILES if n.split("/")[0] in cats]
    for name in names:
        if cancel is not None and cancel():
            raise InterruptedError("Download cancelled; run it again to resume.")
        expected, size = QMUL_V1_FILES.get(name, (None, 0))
        final = root / name
        if final.is_file() and (expected is None or sha256_file(final) == expected):
            if progress is not None:
                done = final.stat().st_size
                progress(name, done, done)
            continue
        url = f"{base_url.rstrip('/')}/{name}"
        try:
            _download(url, name, final, expected, size, progress, cancel, retries, timeout)
        except _NotFound:
            if expected is None:
                say(f"{name}: not published at {base_url} (HTTP 404); skipped. The app shows edge maps instead.")
                continue
            raise DataError(f"{name} was not found at {url} (HTTP 404). Check --base-url.") from None
        except DataError as exc:
            if expected is None:
                say(f"{name}: skipped ({exc})")
                continue
            raise


def _download(url: str, name: str, final: Path, expected: str | None, size: int, progress: Progress | None,
              cancel: Callable[[], bool] | None, retries: int, timeout: float) -> None:
    """One file to `final` through `final.part`, resuming and retrying; verified before rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    failures = restarts = 0
    last_error = ""
    while True:
        offset = part.stat().st_size if part.is_file() else 0
        if size and offset > size:  # longer than the published file: cannot be a prefix of it
            part.unlink()
            offset = 0
        try:
            complete = _transfer(url, name, part, offset, size, progress, cancel, timeout)
        except (_NotFound, InterruptedError):  # InterruptedError is an OSError: not a network failure
            raise
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code not in (408, 429, 500, 502, 503, 504):
                raise DataError(f"Downloading {name} from {url} failed: HTTP {exc.code} {exc.reason}.") from exc
            failures += 1
            last_error = f"{exc.__class__.__name__}: {exc}"
            if failures > retries:
                raise DataError(
                    f"Downloading {name} failed after {failures} tries ({last_error}). "
                    "Check the connection and start the download again: it resumes where it stopped."
                ) from exc
            time.sleep(min(0.25 * 2 ** (failures - 1), 4.0))
            continue
        if complete:
            break
        restarts += 1  # the part did not fit what the server sent: start the file again
        if restarts > retries:
            raise DataError(f"Downloading {name}: the server's partial responses do not line up; giving up.")
    if expected is not None:
        found = sha256_file(part)
        if found != expected:
            part.unlink(missing_ok=True)
            raise DataError(
                f"{name}: the downloaded file does not match its published SHA-256 "
                f"(expected {expected[:16]}…, got {found[:16]}…). It was deleted; nothing was installed. "
                "The server may serve a different or corrupted file: check --base-url and try again."
            )
    os.replace(part, final)


def _transfer(url: str, name: str, part: Path, offset: int, size: int, progress: Progress | None,
              cancel: Callable[[], bool] | None, timeout: float) -> bool:
    """Append the rest of the file to `part`. True when complete; False to restart from 0."""
    headers = {"User-Agent": "SketchFind-fetch/1", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NotFound() from None
        if exc.code == 416 and offset:  # nothing after offset: the part is whole, or garbage
            if not size or offset == size:
                return True
            part.unlink(missing_ok=True)
            return False
        raise
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if offset and status == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink(missing_ok=True)
                return False
            mode = "ab"
        else:  # 200: a full body (the server ignored or did not get our Range)
            offset = 0
            mode = "wb"
        total = offset + length if length is not None else size
        done = offset
        if progress is not None:
            progress(name, done, total)
        with open(part, mode) as handle:
            while True:
                if cancel is not None and cancel():
                    raise InterruptedError(f"Download cancelled during {name}; run it again to resume.")
                block = response.read(CHUNK)
                if not block:
                    break
                handle.write(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
            handle.flush()
            os.fsync(handle.fileno())
        if length is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)
        if size and done < size:
            raise ConnectionError(f"connection closed after {done} of {size} bytes")
    return True


def _range_start(content_range: str) -> int | None:
    # "bytes 100-199/200"
    try:
        unit, _, rest = content_range.strip().partition(" ")
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None

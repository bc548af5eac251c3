"""The benchmark downloader against a local HTTP server (no network): digests, resume, retries."""
from __future__ import annotations

import hashlib
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fgsbir_core.data import DataError, known_digests
from fgsbir_core.fetch import (
    PHOTO_FILES,
    QMUL_V1_FILES,
    default_data_dir,
    fetch_qmul_v1,
    sha256sums_text,
)

SMALL = ["chairs/chairs_sketch_db_test.mat", "shoes/shoes_train_triplets.mat"]  # 0.9 MB + 0.3 MB


class Server:
    """Serves `root` with Range support; behaviour switches for the failure cases."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.drop_after: int | None = None  # bytes of body sent before cutting the connection ...
        self.drops_left = 0  # ... for this many requests
        self.ignore_range = False
        self.misaligned = False  # answer a Range request with 206 for the whole file
        self.no_length = False  # no Content-Length: the body ends where the connection closes
        self.errors: list[int] = []  # HTTP error statuses for the next requests, in order
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if server.errors:
                    self.send_response(server.errors.pop(0))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.root / self.path.lstrip("/").split("/", 1)[-1] if self.path.startswith("/data/") else None
                if path is None or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = path.read_bytes()
                start = 0
                wanted = self.headers.get("Range")
                if wanted and not server.ignore_range:
                    start = 0 if server.misaligned else int(wanted.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                if not server.no_length:
                    self.send_header("Content-Length", str(len(chunk)))
                self.send_header("Connection", "close")
                self.end_headers()
                if server.drops_left > 0 and server.drop_after is not None:
                    server.drops_left -= 1
                    self.wfile.write(chunk[: server.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def mirror(tmp_path, data_root) -> Path:
    """A tmp copy of the small benchmark files, laid out as <category>/<file>."""
    root = tmp_path / "mirror"
    for name in SMALL + ["chairs/chairs_annotation.json"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root / name, root / name)
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_embedded_digests_match_shared_sums(data_root):
    if not (data_root / "SHA256SUMS").is_file():
        pytest.skip("no SHA256SUMS in the data root")
    assert known_digests(data_root) == {k: v for k, (v, _) in QMUL_V1_FILES.items()}
    assert len(QMUL_V1_FILES) == 16


def test_good_download_then_skip(mirror, tmp_path):
    dest = tmp_path / "dest"
    seen = []
    with Server(mirror) as server:
        root = fetch_qmul_v1(dest, base_url=server.url, files=SMALL, progress=lambda *a: seen.append(a))
        first = len(server.requests)
        fetch_qmul_v1(dest, base_url=server.url, files=SMALL)  # already there: no request
        assert len(server.requests) == first
    assert root == dest
    for name in SMALL:
        assert _sha(dest / name) == QMUL_V1_FILES[name][0]
        assert not (dest / (name + ".part")).exists()
    assert (dest / "SHA256SUMS").read_text() == sha256sums_text()
    assert known_digests(dest)["chairs/chairs_sketch_db_test.mat"] == QMUL_V1_FILES[SMALL[0]][0]
    name, done, total = seen[-1]
    assert done == total == QMUL_V1_FILES[name][1]


def test_corrupted_file_is_refused(mirror, tmp_path):
    name = SMALL[0]
    data = bytearray((mirror / name).read_bytes())
    data[1000] ^= 0xFF
    (mirror / name).write_bytes(bytes(data))
    dest = tmp_path / "dest"
    with Server(mirror) as server, pytest.raises(DataError) as info:
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
    message = str(info.value)
    assert name in message and "SHA-256" in message
    assert not (dest / name).exists()
    assert not (dest / (name + ".part")).exists()


def test_corrupted_existing_file_is_replaced(mirror, tmp_path):
    name = SMALL[1]
    dest = tmp_path / "dest"
    (dest / name).parent.mkdir(parents=True)
    (dest / name).write_bytes(b"not the file")
    with Server(mirror) as server:
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]


def test_dropped_connection_resumes_with_range(mirror, tmp_path):
    name = SMALL[0]
    dest = tmp_path / "dest"
    with Server(mirror) as server:
        server.drop_after, server.drops_left = 300_000, 2
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        ranges = [r for p, r in server.requests if p.endswith(name)]
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]
    assert ranges == [None, "bytes=300000-", "bytes=600000-"]


def test_gives_up_after_retries_and_keeps_part(mirror, tmp_path):
    name = SMALL[0]
    dest = tmp_path / "dest"
    with Server(mirror) as server:
        server.drop_after, server.drops_left = 100_000, 99
        with pytest.raises(DataError, match="resumes"):
            fetch_qmul_v1(dest, base_url=server.url, files=[name], retries=2)
        assert not (dest / name).exists()
        assert (dest / (name + ".part")).stat().st_size == 300_000
        server.drops_left = 0
        fetch_qmul_v1(dest, base_url=server.url, files=[name])  # next run resumes
        assert server.requests[-1][1] == "bytes=300000-"
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]


def test_no_connection_leaves_nothing_that_looks_like_data(tmp_path):
    """Offline: the folder chosen is left as it was (no SHA256SUMS, which would make it pass for a
    data root, and no empty category folders); one the download made itself goes again."""
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    (chosen / "mine.txt").write_text("the user's")
    for dest in (chosen, tmp_path / "new" / "data"):
        with pytest.raises(DataError, match="Check the connection and start the download again"):
            fetch_qmul_v1(dest, base_url="http://127.0.0.1:9", files=[SMALL[0]], retries=1, timeout=2)
    assert sorted(p.name for p in chosen.iterdir()) == ["mine.txt"]
    assert not (tmp_path / "new").exists()


def _partial_download(mirror, tmp_path, name: str, size: int):
    """(destination folder, its .part file) holding the first `size` bytes of `name`."""
    dest = tmp_path / "dest"
    part = dest / (name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes((mirror / name).read_bytes()[:size])
    return dest, part


def test_resume_existing_part(mirror, tmp_path):
    name = SMALL[0]
    dest, part = _partial_download(mirror, tmp_path, name, 12345)
    with Server(mirror) as server:
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        assert server.requests == [(f"/data/{name}", "bytes=12345-")]
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]
    assert not part.exists()


def test_server_ignoring_range_restarts(mirror, tmp_path):
    name = SMALL[1]
    dest = tmp_path / "dest"
    part = dest / (name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # garbage prefix: must not survive
    with Server(mirror) as server:
        server.ignore_range = True
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]


def test_cancel_keeps_part_and_no_final(mirror, tmp_path):
    name = SMALL[0]
    dest = tmp_path / "dest"
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 5

    with Server(mirror) as server, pytest.raises(InterruptedError):
        fetch_qmul_v1(dest, base_url=server.url, files=[name], cancel=cancel)
    assert not (dest / name).exists()
    assert (dest / (name + ".part")).is_file()


def test_missing_file_and_optional_photos(mirror, tmp_path):
    dest = tmp_path / "dest"
    notes = []
    with Server(mirror) as server:
        fetch_qmul_v1(dest, base_url=server.url, files=list(PHOTO_FILES[:1]), notice=notes.append)
        assert notes and "404" in notes[0]
        assert not (dest / PHOTO_FILES[0]).exists()
        with pytest.raises(DataError, match="404"):
            fetch_qmul_v1(dest, base_url=server.url, files=["handbags/handbags_edge_db_test.mat"])


def test_optional_photo_downloaded_when_present(mirror, tmp_path):
    photo = mirror / PHOTO_FILES[-1]
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"\x00" * 70_000)
    dest = tmp_path / "dest"
    with Server(mirror) as server:
        fetch_qmul_v1(dest, base_url=server.url, files=[PHOTO_FILES[-1]])
    assert (dest / PHOTO_FILES[-1]).read_bytes() == photo.read_bytes()


def test_unknown_names_and_default_dir(monkeypatch, tmp_path):
    with pytest.raises(DataError):
        fetch_qmul_v1(tmp_path, files=["shoes/nope.mat"])
    with pytest.raises(DataError):
        fetch_qmul_v1(tmp_path, categories=["hats"])
    monkeypatch.setenv("FGSBIR_DATA", str(tmp_path / "x"))
    assert default_data_dir() == tmp_path / "x"
    monkeypatch.delenv("FGSBIR_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    import sys

    if sys.platform.startswith("linux"):
        assert default_data_dir() == tmp_path / "xdg" / "sketchfind" / "qmul_v1"


def test_cli_fetch(mirror, tmp_path, capsys):
    import argparse

    from fgsbir_core.catalogue_cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    dest = tmp_path / "cli"
    with Server(mirror) as server:
        # the CLI fetches everything: serve only a subset and expect the 404 error for the rest
        args = parser.parse_args(["data", "fetch", "qmul-v1", "--dest", str(dest), "--base-url", server.url])
        with pytest.raises(DataError, match="404"):
            args.func(args)
    assert (dest / "chairs" / "chairs_annotation.json").is_file()
    assert "chairs/chairs_annotation.json" in capsys.readouterr().err


def test_a_fetch_to_the_default_folder_is_found_without_being_named(tmp_path, monkeypatch):
    """QA pass: `fgsbir data fetch qmul-v1` (no --dest) wrote ~/.local/share/sketchfind/qmul_v1, and
    every later command said "No benchmark data: … `fgsbir data fetch qmul-v1` downloads"."""
    from fgsbir_core.data import DATA_ENV, resolve_data_root
    from fgsbir_core.fetch import default_data_dir

    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(DataError, match="No benchmark data"):
        resolve_data_root()
    (default_data_dir() / "shoes").mkdir(parents=True)
    assert resolve_data_root() == tmp_path / "sketchfind" / "qmul_v1"
    assert resolve_data_root(tmp_path) == tmp_path  # a root given still wins


def test_the_fetch_says_where_its_benchmark_is_found(monkeypatch, tmp_path, capsys):
    """Without --dest the fetch's folder is found by the app and fgsbir with no setting: it says
    so, instead of asking for --data-root or FGSBIR_DATA."""
    import fgsbir_core.fetch as fetch
    from fgsbir_core.cli import main

    monkeypatch.delenv("FGSBIR_DATA", raising=False)
    monkeypatch.setattr(fetch, "fetch_qmul_v1", lambda dest, **kwargs: dest)
    assert main(["data", "fetch", "qmul-v1"]) == 0
    assert "find it there with no setting" in capsys.readouterr().out
    assert main(["data", "fetch", "qmul-v1", "--dest", str(tmp_path)]) == 0
    assert "with --data-root or FGSBIR_DATA" in capsys.readouterr().out


def test_a_resume_answered_with_another_range_starts_the_file_again(mirror, tmp_path):
    """A 206 whose Content-Range does not start at the .part's end is not appended: the file restarts (found by a mutation pass)."""
    name = SMALL[0]
    dest, part = _partial_download(mirror, tmp_path, name, 12345)
    with Server(mirror) as server:
        server.misaligned = True
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        assert [r for _, r in server.requests] == ["bytes=12345-", None]
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]


def test_a_whole_part_is_not_fetched_again_and_an_overlong_one_is_not_resumed(mirror, tmp_path):
    """A .part of the published size is verified and installed after one 416; a longer one is dropped before asking (found by a mutation pass)."""
    name = SMALL[1]
    dest = tmp_path / "dest"
    part = dest / (name + ".part")
    part.parent.mkdir(parents=True)
    body = (mirror / name).read_bytes()
    with Server(mirror) as server:
        part.write_bytes(body)
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        assert server.requests == [(f"/data/{name}", f"bytes={len(body)}-")]
        (dest / name).unlink()
        part.write_bytes(body + b"extra")
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        assert server.requests[1:] == [(f"/data/{name}", None)]
    assert _sha(dest / name) == QMUL_V1_FILES[name][0] and not part.exists()


def test_server_errors_are_retried_and_refusals_are_not(mirror, tmp_path):
    """HTTP 503 is retried; HTTP 403 fails at once, naming the status (found by a mutation pass)."""
    name = SMALL[1]
    dest = tmp_path / "dest"
    with Server(mirror) as server:
        server.errors = [503]
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        assert len(server.requests) == 2
        (dest / name).unlink()
        server.errors = [403]
        with pytest.raises(DataError, match="HTTP 403"):
            fetch_qmul_v1(dest, base_url=server.url, files=[name])
        assert len(server.requests) == 3
    assert not (dest / name).exists()


def test_a_body_cut_short_is_resumed_with_or_without_a_length(mirror, tmp_path):
    """A dropped body without Content-Length, or of a photo with no known size, is resumed, not taken as whole (found by a mutation pass)."""
    name = SMALL[0]
    photo = mirror / PHOTO_FILES[-1]
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(bytes(range(256)) * 300)
    dest = tmp_path / "dest"
    with Server(mirror) as server:
        server.no_length, server.drop_after, server.drops_left = True, 300_000, 1
        fetch_qmul_v1(dest, base_url=server.url, files=[name])
        server.no_length, server.drop_after, server.drops_left = False, 30_000, 1
        fetch_qmul_v1(dest, base_url=server.url, files=[PHOTO_FILES[-1]])
        assert [r for _, r in server.requests] == [None, "bytes=300000-", None, "bytes=30000-"]
    assert _sha(dest / name) == QMUL_V1_FILES[name][0]
    assert (dest / PHOTO_FILES[-1]).read_bytes() == photo.read_bytes()

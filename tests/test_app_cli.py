"""`python -m app --query ... --json`: answers without a QApplication."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DRIVER = r"""
import json, sys
import app.__main__ as entry

import fgsbir_core.cli as core_cli

calls = []
def fake_query_json(paths, category, top, gallery, data_root, weights, attribute_weight, facing):
    calls.append((paths, category, top, gallery, data_root, weights, attribute_weight, facing))
    return [{"sketch": p, "results": [{"id": "305", "score": 0.25, "attributes": {"boot": 0.9}, "present": ["boot"]}][:top]} for p in paths]

core_cli.query_json = fake_query_json
code = entry.main(sys.argv[1:])
assert "PySide6.QtWidgets" not in sys.modules and "PySide6.QtGui" not in sys.modules, "headless mode imported Qt"
print(json.dumps(calls), file=sys.stderr)
sys.exit(code)
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("QT_QPA_PLATFORM", None)  # would a QApplication start, it could not without a display
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_query_json_prints_results_and_exits_zero():
    done = _run("--query", "a.png", "b.json", "--category", "chairs", "--top", "1", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [a["sketch"] for a in answer] == ["a.png", "b.json"]
    assert answer[0]["results"][0] == {"id": "305", "score": 0.25, "attributes": {"boot": 0.9}, "present": ["boot"]}
    calls = json.loads(done.stderr.strip().splitlines()[-1])
    assert calls == [[["a.png", "b.json"], "chairs", 1, "test", None, None, None, "auto"]]


def test_query_interrupted_is_one_line():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    driver = DRIVER.replace("return [", "raise KeyboardInterrupt\n    return [")
    done = subprocess.run([sys.executable, "-c", driver, "--query", "a.png", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr.strip().splitlines()[0] == "sketchfind: interrupted"
    assert "Traceback" not in done.stderr


def test_query_error_is_one_line_and_nonzero(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    driver = DRIVER.replace("return [", "raise FileNotFoundError('no such sketch: a.png')\n    return [")
    done = subprocess.run([sys.executable, "-c", driver, "--query", "a.png", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2  # as `fgsbir query`
    assert "no such sketch" in done.stderr and "Traceback" not in done.stderr


def test_query_with_an_unreadable_sketch_answers_the_others_and_says_which(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    driver = DRIVER.replace("return [", "return [{'sketch': 'bad.png', 'error': 'bad.png: no strokes', 'results': []}] + [")
    done = subprocess.run([sys.executable, "-c", driver, "--query", "a.png", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    text = subprocess.run([sys.executable, "-c", driver, "--query", "a.png"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # without --json: the list a person reads
    assert text.returncode == 2 and text.stdout.splitlines()[:2] == ["a.png", "    1. photo   305  distance 0.2500  boot"]
    assert done.returncode == 2 and "bad.png: no strokes" in done.stderr
    assert [a["sketch"] for a in json.loads(done.stdout)] == ["bad.png", "a.png"]
    top0 = subprocess.run([sys.executable, "-c", DRIVER, "--query", "a.png", "--top", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert top0.returncode == 2 and "--top: must be at least 1" in top0.stderr


def test_query_takes_the_options_of_fgsbir_query():
    done = _run("--query", "a.png", "--facing", "mirrored", "--attribute-weight", "2.5", "--gallery", "all")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [[["a.png"], "shoes", 10, "all", None, None, 2.5, "mirrored"]]
    both = _run("--query", "a.png", "--catalogue", "photos", "--gallery", "test")
    assert both.returncode == 2 and "give one or the other" in both.stderr and "Traceback" not in both.stderr
    for bad in (["--attribute-weight", "nan"], ["--facing", "left"]):
        done = _run("--query", "a.png", *bad)
        assert done.returncode == 2 and "usage:" in done.stderr, bad


def test_help_lists_query_options():
    done = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--query" in done.stdout and "--category" in done.stdout


def test_many_void_qt_calls_do_not_abort():
    """PySide6 6.12.0 on CPython 3.11 drops a reference to None per void call (pinned to 6.11.2)."""
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "import app\n"
        "from PySide6.QtCore import QObject\n"
        "o = QObject()\n"
        "for _ in range(200_000): o.setObjectName('x')\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-500:]


def test_no_display_is_one_line_not_a_core_dump(monkeypatch, capsys):
    """Without a reachable X display Qt aborts (SIGABRT) with a misleading library hint; the
    app says what is wrong first. Query-only options without --query are a usage error."""
    import pytest

    import app.__main__ as entry

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert "DISPLAY is not set" in entry.display_problem()
    monkeypatch.setenv("DISPLAY", ":987")  # no X server there
    assert "cannot connect to the display :987" in entry.display_problem()
    assert entry.main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.setenv("DISPLAY", "localhost:987")  # a stale `ssh -X` display: asked as well, not left to Qt's abort
    assert "cannot connect to the display localhost:987" in entry.display_problem()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("DISPLAY", ":987")
    assert entry.display_problem() == ""
    for args in (["--top", "5"], ["--json"], ["--catalogue", "photos"]):
        with pytest.raises(SystemExit) as stop:
            entry.main(args)
        assert stop.value.code == 2 and "with --query" in capsys.readouterr().err


def test_answers_to_a_reader_that_left_or_a_full_disk_end_without_a_traceback():
    """`... --json | head`, `> /dev/full`: a quiet 141 (as SIGPIPE), one error line and 2."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the answer is written
    done = subprocess.run([sys.executable, "-c", "from fgsbir_core.cli import emit; emit('answer')"], cwd=ROOT,
                          stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-c", "from fgsbir_core.cli import main; import sys\n"
                                   "from fgsbir_core import cli\n"
                                   "try:\n    cli.emit('answer')\nexcept OSError as exc:\n    print(exc, file=sys.stderr); sys.exit(2)"],
                                  cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert done.returncode == 2 and done.stderr.strip() == "cannot write the answer: No space left on device"


def test_help_onto_a_full_disk_is_an_error_not_a_silent_success():
    """argparse drops a failed write of --help / --version and exits 0; both programs say it and exit 2."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    for module, name in (("fgsbir_core.cli", "fgsbir"), ("app.__main__", "sketchfind")):
        for flag in ("--help", "--version"):
            with open("/dev/full", "w") as full:
                done = subprocess.run([sys.executable, "-m", module, flag], cwd=ROOT, stdout=full,
                                      stderr=subprocess.PIPE, text=True, timeout=60,
                                      env=dict(os.environ, PYTHONPATH=str(ROOT)))
            assert done.returncode == 2, (module, flag, done.stderr)
            assert done.stderr == f"{name}: error: cannot write to standard output: No space left on device\n"


def test_a_sketch_given_to_the_program_is_opened_in_the_window():
    """`sketchfind boot.png` (the desktop's "Open with SketchFind", Exec=sketchfind %f)."""
    import pytest

    import app.__main__ as entry

    args = entry._parser().parse_args(["boot.png", "--category", "chairs"])
    assert args.sketch == "boot.png" and args.query is None
    with pytest.raises(SystemExit):
        entry.main(["boot.png", "--query", "other.png"])



def test_the_readable_list_keeps_one_result_on_one_line(capsys):
    """Found by a QA pass: a file name with a newline split its result over two lines, and one
    that is not UTF-8 printed surrogates."""
    from fgsbir_core.cli import print_answers

    odd = "special/weird \udcff name\nwith newline.png"
    print_answers([{"sketch": "a\nb.png", "results": [{"id": odd, "score": 0.5, "attributes": {}}]}], as_json=False)
    assert capsys.readouterr().out.splitlines() == [
        "a\\nb.png", "    1. photo special/weird \\xff name\\nwith newline.png  distance 0.5000"]


def test_help_with_no_console_at_all_is_no_traceback(monkeypatch):
    """A windowed build (Windows, macOS) has no sys.stdout / sys.stderr: argparse's own code
    ignored that, the override must too (found by a code review)."""
    import pytest

    from fgsbir_core.cli import build_parser

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    for argv in (["--help"], ["no-such-command"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)


def test_the_printed_list_lights_what_the_engine_read_not_a_rounded_copy(capsys):
    """Found by a code review: the list re-read the attributes from the JSON's rounded
    probabilities, so p = 0.49996 was lit there (0.5) but not in the app."""
    from types import SimpleNamespace

    from fgsbir_core.cli import _result_json, print_answers
    from fgsbir_core.engine import RankedResult

    result = RankedResult(rank=1, index=0, id="7", score=0.1, attributes={"knee-high": 0.49996, "zip": 0.9},
                          present=("zip",))
    entry = _result_json(result, SimpleNamespace(photo_file=lambda i: None))
    assert entry["attributes"]["knee-high"] == 0.5 and entry["present"] == ["zip"]
    print_answers([{"sketch": "boot.png", "results": [entry]}], as_json=False)
    assert capsys.readouterr().out.splitlines()[1] == "    1. photo     7  distance 0.1000  zip"

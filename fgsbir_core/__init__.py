"""SketchFind's core: everything but the GUI (data, model, training, evaluation, retrieval)."""
from __future__ import annotations

from pathlib import Path


def version() -> str:
    """The installed package's version, else the source checkout's pyproject.toml one."""
    try:
        from importlib.metadata import version as package_version

        return package_version("sketchfind")
    except Exception:  # not installed (a source checkout): the number in pyproject.toml
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            for line in pyproject.read_text(encoding="utf-8").splitlines():
                if line.strip().startswith("version"):
                    return line.split("=", 1)[1].strip().strip('"') + "+source"
        except OSError:
            pass
        return "unknown"

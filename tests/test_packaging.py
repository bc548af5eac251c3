"""The standalone installer (packaging/): cheap checks here, the full build in a slow test."""
from __future__ import annotations

import ast
import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))

import trim


def test_spec_parses_and_names_the_bundle():
    source = (PACKAGING / "sketchfind.spec").read_text()
    tree = ast.parse(source)  # a spec is Python
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"} <= calls
    assert 'NAME = "SketchFind"' in source
    assert "strip=True" not in source  # PyInstaller's strip breaks numpy's OpenBLAS
    assert "trim.EXCLUDED_MODULES" in source and "trim.trim_toc" in source


def test_scripts_are_executable_bash():
    for name in ("build.sh", "smoke_test.sh", "measure.sh"):
        script = PACKAGING / name
        assert script.is_file(), name
        assert os.access(script, os.X_OK), f"{name} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env bash"), name
        subprocess.run(["bash", "-n", str(script)], check=True)  # syntax


def test_version_comes_from_pyproject():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version
    build = (PACKAGING / "build.sh").read_text()
    assert "pyproject.toml" in build and "tomllib" in build
    assert f"{version}" not in build  # read at build time, never written into the script


def test_trim_keeps_torch_shm_manager_and_drops_test_binaries():
    assert not trim.drop("torch/bin/torch_shm_manager")  # `import torch` needs it
    assert not trim.drop("torch\\bin\\torch_shm_manager.exe")
    for dropped in ("torch/bin/test_api", "torch/bin/test_jit", "torch/test/foo.py", "torch/include/ATen/ATen.h",
                    "torch/share/cmake/Torch/TorchConfig.cmake", "torch/_inductor/codegen/x.py",
                    "PySide6/Qt/translations/qt_de.qm", "PySide6/Qt/plugins/platforms/libqeglfs.so",
                    "torch/nn/modules/conv.py", "libsystemd.so.0", "libfontconfig.so.1"):
        assert trim.drop(dropped), dropped
    for kept in ("torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libtorch_global_deps.so",
                 "torch/_C.cpython-311-x86_64-linux-gnu.so", "PySide6/Qt/plugins/platforms/libqxcb.so",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/plugins/platforms/libqwayland.so",
                 "PySide6/Qt/lib/libQt6Widgets.so.6", "numpy.libs/libscipy_openblas64_.so",
                 "resources/models/shoes_mtl.pt", "resources/models/shoes_mtl.json", "fgsbir_core/engine.py",
                 # read with inspect.getsource at import time
                 "torch/distributed/config.py", "torch/utils/serialization/config.py", "torch/functional.py",
                 "libstdc++.so.6", "libcrypto.so.3", "libxkbcommon.so.0", "libxcb-icccm.so.4"):
        assert not trim.drop(kept), kept
    assert not trim.drop("libfontconfig.so.1", system="win32")  # system libraries: a Linux rule


def test_excluded_modules_are_not_used_by_the_program():
    for needed in ("torch", "torch.nn", "torch.distributed", "torch.testing", "torch.fx", "scipy.io",
                   "scipy.sparse", "PIL", "torch.testing._internal", "torch.utils.checkpoint", "PySide6.QtSvg", "numpy", "PySide6.QtWidgets", "fgsbir_core", "app"):
        assert needed not in trim.EXCLUDED_MODULES, needed
    assert "torch._inductor" in trim.EXCLUDED_MODULES and "sympy" in trim.EXCLUDED_MODULES


def test_bundled_models_are_the_ones_the_app_loads(tmp_path):
    for name in ("shoes_mtl.pt", "shoes_mtl.json", "shoes_triplet.pt", "shoes_triplet.json", "chairs_mtl.pt", "shoes_facing.npz", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    names = [p.name for p in trim.bundled_model_files(tmp_path)]
    assert names == ["chairs_mtl.pt", "shoes_facing.npz", "shoes_mtl.json", "shoes_mtl.pt"]
    assert trim.bundled_model_files(tmp_path / "absent") == []


# Imports of excluded modules that are fine: optional features outside the app, with a clear error.
ALLOWED_EXCLUDED_IMPORTS = {"faiss"}  # `fgsbir catalogue index --faiss` only


def test_the_code_imports_nothing_the_bundle_leaves_out():
    """An import of an excluded module in app/ or fgsbir_core/ would fail only in the bundle."""
    found = []
    for folder in ("app", "fgsbir_core"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    for excluded in trim.EXCLUDED_MODULES:
                        if (name == excluded or name.startswith(excluded + ".")) and excluded not in ALLOWED_EXCLUDED_IMPORTS:
                            found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name} ({excluded} is excluded)")
    assert not found, "\n".join(found) + "\n(packaging/trim.py EXCLUDED_MODULES)"


def test_strip_list_avoids_auditwheel_libraries():
    assert not any(".libs" in pattern for pattern in trim.STRIP)  # numpy.libs/scipy.libs break when stripped
    assert "torch/lib/libtorch_cpu.so" in trim.STRIP


def test_links_left_dangling_by_the_trim_are_removed(tmp_path):
    """Found by a QA pass: three versioned Qt links in _internal pointed at libraries the trim dropped."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libkept.so.6.9").write_bytes(b"")
    (tmp_path / "lib" / "libkept.so.6").symlink_to("libkept.so.6.9")
    (tmp_path / "lib" / "libgone.so.6").symlink_to("libgone.so.6.9")
    assert trim.remove_dangling_links(tmp_path) == [tmp_path / "lib" / "libgone.so.6"]
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["libkept.so.6", "libkept.so.6.9"]
    assert "trim.remove_dangling_links(" in (PACKAGING / "sketchfind.spec").read_text()


def test_elf_reader_and_orphan_pruning():
    libc_user = Path(sys.executable).resolve()
    needs = trim.elf_needed(libc_user)
    if needs is None:
        pytest.skip("not an ELF system")
    assert any(n.startswith(("libc.so", "libpython")) for n in needs)  # DT_NEEDED entries
    assert trim.elf_needed(ROOT / "pyproject.toml") is None
    # a library that something needs stays; one that nothing needs goes, with its symlink
    needed_name = next(n for n in needs if n.startswith(("libc.so", "libpython")))
    libc = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6", "/usr/lib/libc.so.6") if Path(p).is_file()), None)
    if libc is None:
        pytest.skip("no libc found")
    toc = [("app/ext.cpython-311.so", str(libc_user), "EXTENSION"),
           (needed_name, libc, "BINARY"),
           ("libunused.so.1", libc, "BINARY"),
           ("libunused.so", "libunused.so.1", "SYMLINK")]
    kept, dropped = trim.prune_orphans(toc)
    assert dropped == ["libunused.so.1"]
    assert [e[0] for e in kept] == ["app/ext.cpython-311.so", needed_name]


def test_desktop_entry():
    desktop = PACKAGING / "sketchfind.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(desktop)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == "SketchFind"
    assert entry["Exec"] == "sketchfind %f" and entry["Icon"] == "sketchfind"  # "Open with SketchFind" opens the file
    assert entry["Categories"].endswith(";")
    validate = shutil.which("desktop-file-validate")
    if validate:
        result = subprocess.run([validate, str(desktop)], capture_output=True, text=True, check=False)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_deb_control_template():
    control = (PACKAGING / "debian" / "control.in").read_text()
    fields = dict(line.split(": ", 1) for line in control.splitlines() if line and not line.startswith(" "))
    assert fields["Package"] == "sketchfind" and fields["Version"] == "@VERSION@" and fields["Architecture"] == "@ARCH@"
    assert "Maintainer" in fields and "Description" in fields and "Installed-Size" in fields
    assert "libc6 (>= @GLIBC@)" in fields["Depends"]  # filled in by build.sh from what the binaries need
    build = (PACKAGING / "build.sh").read_text()
    assert "dpkg-deb --build --root-owner-group" in build
    assert "/opt/sketchfind" in build or "opt/sketchfind" in build


def test_bundle_readme_names_options_and_menus_that_exist():
    """README.txt in the tar.gz: its commands parse, its menu items are the window's, build.sh fills it in."""
    text = (PACKAGING / "bundle_readme.txt").read_text()
    assert set(re.findall(r"@([A-Z]+)@", text)) == {"VERSION", "GLIBC"}
    build = (PACKAGING / "build.sh").read_text()
    assert 'packaging/bundle_readme.txt > "$BUNDLE/README.txt"' in build and '"$BUNDLE/COPYRIGHT"' in build
    assert build.index('"$BUNDLE/README.txt"') < build.index('if [ "$MAKE_TAR" = 1 ]')  # in the tar.gz too
    from app.__main__ import _parser

    for line in text.splitlines():
        if line.strip().startswith("./SketchFind "):
            command = line.split("  ")[1] if line.startswith("  ") else line
            args = command.strip().split()[1:]
            if args != ["--help"]:
                _parser().parse_args(args)
    window = (ROOT / "app" / "main_window.py").read_text()
    for menu, item in re.findall(r"\*(\w+) -> ([^*]+)\*", text):
        assert f'"&{menu}"' in window and f'"{item}' in window, (menu, item)


def test_icons(tmp_path):
    pytest.importorskip("PIL")
    import icons
    from PIL import Image

    assert (PACKAGING / "sketchfind.svg").read_text().lstrip().startswith("<?xml")
    with Image.open(PACKAGING / "sketchfind.png") as image:
        assert image.size == (256, 256) and image.mode == "RGBA"
    made = icons.make_icons(tmp_path)
    for size in icons.HICOLOR_SIZES:
        with Image.open(made[size]) as image:
            assert image.size == (size, size)
    with Image.open(made["ico"]) as image:
        assert (256, 256) in image.info["sizes"]
    with Image.open(made["icns"]) as image:
        assert image.format == "ICNS"


def test_entry_script_points_at_the_app():
    source = (PACKAGING / "entry.py").read_text()
    assert "from app.__main__ import main" in source
    compile(source, "entry.py", "exec")


def test_bundle_layout_matches_the_engine():
    """The engine finds its weights at <fgsbir_core>/../resources/models: the spec puts them
    at _internal/resources/models, beside _internal/fgsbir_core."""
    engine = (ROOT / "fgsbir_core" / "engine.py").read_text()
    assert 'Path(__file__).resolve().parent.parent / "resources" / "models"' in engine
    assert '"resources/models"' in (PACKAGING / "sketchfind.spec").read_text()


def test_workflow_builds_on_three_systems():
    workflow = (ROOT / ".github" / "workflows" / "build.yml").read_text()
    for system in ("ubuntu", "windows", "macos"):
        assert system in workflow
    assert "packaging/sketchfind.spec" in workflow


@pytest.mark.slow
def test_smoke_test_builds_and_runs_the_bundle():
    """Build the bundle, the tar.gz and the .deb, then packaging/smoke_test.sh (a few minutes)."""
    if not shutil.which("dpkg-deb"):
        pytest.skip("needs dpkg-deb")
    result = subprocess.run(["bash", str(PACKAGING / "smoke_test.sh")], cwd=ROOT, capture_output=True, text=True,
                            timeout=1800, check=False)
    print(result.stdout[-5000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "smoke test: all passed" in result.stdout

"""What the SketchFind bundle leaves out (used by sketchfind.spec; checked by tests/test_packaging.py).

Measured on PyInstaller 6.22 / torch 2.13 CPU / PySide6-Essentials 6.11 (shared/docs/ENVIRONMENT.md):
the untrimmed one-folder bundle is about 894 MB, trimmed about 584 MB.

Two levers:
* EXCLUDED_MODULES: Python packages that modulegraph would follow (torch's hook collects every
  torch submodule) but that the app never imports: left out of the analysis entirely.
* drop(dest): files (binaries and data) by their path inside the bundle. torch/bin holds C++ test
  programs except torch_shm_manager, which `import torch` needs: it is KEPT.
"""
from __future__ import annotations

import fnmatch

# Not imported by `import torch` + the app (checked: sys.modules after importing fgsbir_core and app).
EXCLUDED_MODULES = [
    "torch._inductor", "torch._dynamo", "torch.onnx", "torch.utils.benchmark", "torch.utils.tensorboard",
    "torch._export.serde.upgrade",  # imports torch._dynamo lazily for old exported programs
    "sympy", "mpmath", "networkx", "jinja2", "markupsafe",
    "pytest", "_pytest", "pytestqt", "hypothesis", "pluggy", "iniconfig", "pygments",
    "tkinter", "_tkinter", "IPython", "matplotlib", "pandas",
    "faiss",  # only `fgsbir catalogue index --faiss` uses it, not the app
    "PyInstaller", "setuptools", "pkg_resources", "wheel", "sqlite3", "readline",
    "torch.utils.hipify", "torch.utils.cpp_extension",
    # scipy: the app needs io (loadmat) and what it imports (sparse). Not ndimage: the edge maps
    # use fgsbir_core.imageops, and ndimage would pull in scipy.special and scipy's own OpenBLAS
    # (about 35 MB; scipy.libs is then left with nothing that needs it, see prune_orphans)
    "scipy.ndimage", "scipy.special",
    "scipy.optimize", "scipy.linalg", "scipy.stats", "scipy.interpolate", "scipy.spatial",
    "scipy.signal", "scipy.integrate", "scipy.fft", "scipy.fftpack", "scipy.cluster", "scipy.odr",
    "scipy.datasets", "scipy.misc", "scipy.sparse.linalg", "scipy.sparse.csgraph", "scipy.differentiate",
    # Pillow: no AVIF photos (edges.PHOTO_SUFFIXES), no Tk
    "PIL._avif", "PIL.AvifImagePlugin", "PIL.ImageTk", "PIL._imagingtk",
    # Qt: the app needs QtCore, QtGui, QtWidgets and QtSvg (SVG sketches: app/canvas.py)
    "PySide6.QtNetwork", "PySide6.QtDBus",
    # torch.distributed is imported by `import torch`, these parts of it are not
    "torch.distributed.tensor", "torch.distributed.fsdp", "torch.distributed.checkpoint",
    "torch.distributed.elastic", "torch.distributed.pipelining", "torch.distributed._shard",
    "torch.distributed._tools", "torch.distributed.optim", "torch.distributed._symmetric_memory",
    "torch.distributed.nn", "torch.distributed.launcher", "torch.distributed._composable",
    "torch.distributed._sharded_tensor", "torch.distributed._sharding_spec", "torch.distributed.run",
    "torch.distributed.launch", "torch.distributed.benchmarks", "torch.distributed.examples",
    "torch._vendor.quack", "fsspec", "pydoc_data",
]

# (torch.testing._internal stays: torch.utils.checkpoint imports its logging_tensor.)

# Kept even where a DROP pattern matches: torch/bin/torch_shm_manager (`import torch` needs it),
# and the config modules' sources: torch.utils._config_module.install_config_module() reads
# them with inspect.getsource at import (torch/distributed/config.py on the query path).
# Also the modules that declare @torch.jit._overload functions at import (else a warning per
# function: "Unable to retrieve source for @torch.jit._overload function").
KEEP = ["torch/bin/torch_shm_manager", "torch/bin/torch_shm_manager.exe", "torch/*config*.py",
        "torch/__init__.py", "torch/functional.py", "torch/nn/functional.py", "torch/nn/modules/rnn.py"]

DROP_PATTERNS = [
    # torch: tests, headers, CMake files, test programs and test-only libraries
    "torch/test/*", "torch/include/*", "torch/share/*", "torch/bin/*",
    "torch/lib/libjitbackend_test*", "torch/lib/libtorchbind_test*", "torch/lib/libbackend_with_compiler*",
    "torch/lib/libaoti_custom_ops*", "torch/lib/*.lib",
    "torch/_inductor/*", "torch/_dynamo/*", "torch/onnx/*", "torch/testing/_internal/generated/*",
    "torch/utils/benchmark/*", "torch/utils/model_dump/*",
    "*.pyi", "*.h", "*.hpp", "*.cuh", "*.cmake",
    # torch's hook also collects every .py as a file (for TorchScript's source lookups, which
    # the app never makes): the byte code in the archive is enough (about 29 MB)
    "torch/*.py",
    # Qt: translations, QML, platforms without a use here (keep xcb, wayland, offscreen, minimal,
    # windows, cocoa), designer / SQL / print / TLS plugins the app never loads
    "PySide6/Qt/translations/*", "PySide6/translations/*", "PySide6/Qt/qml/*", "PySide6/Qt/metatypes/*",
    "PySide6/Qt/plugins/platforms/*eglfs*", "PySide6/Qt/plugins/platforms/*linuxfb*",
    "PySide6/Qt/plugins/platforms/*vnc*", "PySide6/Qt/plugins/platforms/*vkkhrdisplay*",
    "PySide6/Qt/plugins/platforms/*minimalegl*",
    "PySide6/Qt/plugins/egldeviceintegrations/*", "PySide6/Qt/plugins/designer/*",
    "PySide6/Qt/plugins/sqldrivers/*", "PySide6/Qt/plugins/qmltooling/*", "PySide6/Qt/plugins/qmllint/*",
    "PySide6/Qt/plugins/printsupport/*", "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/tls/*",
    "PySide6/plugins/platforms/qdirect2d*", "PySide6/plugins/designer/*", "PySide6/plugins/sqldrivers/*",
    "PySide6/Qt/lib/libQt6EglFs*",
    # the GTK theme (it needs the system's GTK 3 anyway, and pulls cairo/pango/... in) and the
    # TUIO touch plugin (it needs QtNetwork); then QtNetwork itself
    "PySide6/Qt/plugins/platformthemes/libqgtk3*", "PySide6/Qt/plugins/generic/libqtuiotouchplugin*",
    "PySide6/Qt/lib/libQt6Network*",
    # metadata of the test-only packages left out above (hypothesis is in EXCLUDED_MODULES)
    "hypothesis-*.dist-info/*",
]

# Left to the system (Linux; top-level libraries that PyInstaller copied from this machine):
# stable C libraries that every desktop Linux has, which are better not bundled (a bundled
# fontconfig older than the system's configuration warns; a bundled libsystemd/libgcrypt never
# gets security updates). The .deb depends on their packages (packaging/debian/control.in).
# Kept in the bundle: libstdc++ (Qt needs a recent one), OpenSSL 3 (older systems have 1.1),
# libxkbcommon and the xcb utility libraries (often missing: libxcb-icccm4, libxcb-keysyms1...).
SYSTEM_LIBRARIES = [
    "libsystemd.so*", "libgcrypt.so*", "libgpg-error.so*", "liblz4.so*", "libzstd.so*", "liblzma.so*",
    "libcap.so*", "libdbus-1.so*", "libglib-2.0.so*", "libgthread-2.0.so*", "libpcre2-8.so*", "libz.so*",
    "libexpat.so*", "libfontconfig.so*", "libfreetype.so*", "libpng16.so*", "libbrotli*.so*", "libbz2.so*",
    "libX11.so*", "libX11-xcb.so*", "libxcb.so*", "libuuid.so*",
]

# Model files in resources/models that stay out of the bundle: the triplet baselines are for the
# evaluation (tests/test_bundled_models.py, Table 1); the app only loads <category>_mtl.pt
# (fgsbir_core.engine.bundled_weights' default mode). Each model is about 9.5 MB.
UNBUNDLED_MODELS = ["*_triplet.pt", "*_triplet.json"]


def bundled_model_files(models_dir) -> list:
    """The files of resources/models that the bundle carries (weights, their JSON cards and the
    facing classifiers, fgsbir_core.facing)."""
    from pathlib import Path

    files = []
    for path in sorted(Path(models_dir).glob("*")):
        unbundled = any(fnmatch.fnmatch(path.name, p) for p in UNBUNDLED_MODELS)
        if path.suffix in (".pt", ".json", ".npz") and path.is_file() and not unbundled:
            files.append(path)
    return files


# Stripped with `strip --strip-unneeded` after the build (Linux). Not PyInstaller's strip=True:
# that strips every library and breaks numpy's bundled OpenBLAS ("ELF load command
# address/offset not page-aligned").
# Also Python's own extension modules and Qt's ICU (built without auditwheel's patchelf, which is
# what breaks stripped OpenBLAS: never strip numpy.libs/, scipy.libs/, pillow.libs/).
STRIP = ["torch/lib/libtorch_cpu.so", "torch/lib/libtorch_python.so", "torch/lib/libc10.so", "libpython3*.so*",
         "python3*/lib-dynload/*.so", "PySide6/Qt/lib/libicu*.so*"]


def _norm(dest: str) -> str:
    return dest.replace("\\", "/")


def drop(dest: str, system: str = "linux") -> bool:
    """True when the bundle file at `dest` (path inside _internal) is left out."""
    dest = _norm(dest)
    if any(fnmatch.fnmatch(dest, pattern) for pattern in KEEP):
        return False
    if system.startswith("linux") and "/" not in dest and any(fnmatch.fnmatch(dest, p) for p in SYSTEM_LIBRARIES):
        return True
    return any(fnmatch.fnmatch(dest, pattern) for pattern in DROP_PATTERNS)


def trim_toc(toc, system: str | None = None):
    """The TOC (list of (dest, source, typecode)) without the dropped files."""
    import sys

    system = system or sys.platform
    return [entry for entry in toc if not drop(entry[0], system)]


def elf_needed(path) -> list[str] | None:
    """DT_NEEDED names of an ELF file, or None when it is not a readable 64/32-bit ELF."""
    import struct

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF":
        return None
    is64, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            _, sh_type, _, _, off, size, link = struct.unpack_from(endian + "IIQQQQI", data, base)
        else:
            _, sh_type, _, _, off, size, link = struct.unpack_from(endian + "IIIIIII", data, base)
        sections.append((sh_type, off, size, link))
    names = []
    for sh_type, off, size, link in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        str_off = sections[link][1]
        fmt, step = (endian + "qQ", 16) if is64 else (endian + "iI", 8)
        for pos in range(off, off + size, step):
            tag, val = struct.unpack_from(fmt, data, pos)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", str_off + val)
                names.append(data[str_off + val:end].decode())
    return names


def prune_orphans(binaries):
    """Drop shared libraries that nothing left in the bundle needs (Linux).

    PyInstaller puts the system libraries it finds by dependency analysis at the top of
    _internal/, and the Qt wheel's libraries in PySide6/Qt/lib; once trimming removed their
    users (the GTK theme pulls in cairo, pango, ...; the eglfs platform its device
    integration), they are dead weight. Qt plugins, Python extensions and torch/lib stay as
    they are. Returns (kept TOC, dropped names)."""
    import os

    entries = list(binaries)
    needed = {}
    for dest, src, typecode in entries:
        if typecode in ("BINARY", "EXTENSION"):
            names = elf_needed(src)
            if names is not None:
                needed[dest] = names
    by_name: dict = {}
    for dest in needed:
        by_name.setdefault(os.path.basename(dest), []).append(dest)
    for dest, src, typecode in entries:  # symlinks: the link's name leads to its target
        if typecode == "SYMLINK":
            by_name.setdefault(os.path.basename(dest), []).append(_norm(os.path.normpath(os.path.join(os.path.dirname(dest), src))))

    def top_level(dest):  # only loaded as a dependency (no plugins, no ctypes/dlopen users)
        dest = _norm(dest)
        return (("/" not in dest and not dest.startswith("libpython")) or dest.startswith("PySide6/Qt/lib/")
                or dest.split("/")[0].endswith(".libs"))  # numpy.libs, scipy.libs, pillow.libs (auditwheel)

    stack = [d for d in needed if not top_level(d)] + [d for d in needed if _norm(d).startswith("libpython")]
    seen = set()
    while stack:
        dest = stack.pop()
        if dest in seen:
            continue
        seen.add(dest)
        for name in needed.get(dest, []):
            stack.extend(by_name.get(name, []))
    dropped = {d for d in needed if top_level(d) and d not in seen}
    kept = [e for e in entries if e[0] not in dropped
            and not (e[2] == "SYMLINK" and _norm(os.path.normpath(os.path.join(os.path.dirname(e[0]), e[1]))) in dropped)]
    return kept, sorted(dropped)


def strip_targets(internal_dir) -> list:
    """Existing files under the bundle's _internal folder that should be stripped."""
    from pathlib import Path

    root = Path(internal_dir)
    found = []
    for pattern in STRIP:
        found.extend(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())
    return sorted(set(found))


def remove_dangling_links(folder) -> list:
    """Delete symbolic links under `folder` whose target is gone (a library the trim dropped, its
    versioned link left behind); returns their paths."""
    from pathlib import Path

    dangling = [p for p in Path(folder).rglob("*") if p.is_symlink() and not p.exists()]
    for link in dangling:
        link.unlink()
    return dangling

#!/usr/bin/env bash
# Build the standalone SketchFind for Linux x86-64, in one command:
#
#     packaging/build.sh [--data-root DIR] [--no-deb] [--no-tar]
#
# makes, under dist/:
#   SketchFind/                                one-folder bundle; run SketchFind/SketchFind
#   SketchFind-<version>-linux-x86_64.tar.gz   that folder, packed
#   sketchfind_<version>_amd64.deb             installs to /opt/sketchfind, /usr/bin/sketchfind,
#                                              a .desktop entry and hicolor icons
#   BUILD_INFO                                 version, build seconds, sizes (for measure.sh)
#
# --data-root DIR copies the benchmark demo catalogue (shoes/ and chairs/ .mat + annotation
# files, attributes/, SHA256SUMS, PROVENANCE.md) into dist/SketchFind/data/qmul_v1, where the
# bundle finds it when $FGSBIR_DATA is unset. It goes to the build output only, never the repo.
#
# Python: $PYTHON, else .venv/bin/python (with `pip install -e ".[dev]"`, which has pyinstaller).
# Model weights: whatever resources/models/*.pt (+ *.json cards) exist at build time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
PY=$(command -v "$PY" || echo "$PY")  # PYTHON=python works too
DATA_ROOT=""
MAKE_DEB=1
MAKE_TAR=1
while [ $# -gt 0 ]; do
  case "$1" in
    --data-root) DATA_ROOT=${2:?--data-root needs a folder}; shift 2 ;;
    --data-root=*) DATA_ROOT=${1#--data-root=}; shift ;;
    --no-deb) MAKE_DEB=0; shift ;;
    --no-tar) MAKE_TAR=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$PY" ] || { echo "build.sh: no Python at $PY: run ./run tests once (it makes .venv) or set PYTHON" >&2; exit 2; }
"$PY" -c "import PyInstaller" 2>/dev/null || { echo "build.sh: PyInstaller missing: $PY -m pip install -e '.[dev]'" >&2; exit 2; }
if [ -n "$DATA_ROOT" ] && [ ! -f "$DATA_ROOT/SHA256SUMS" ]; then
  echo "build.sh: $DATA_ROOT is not a benchmark data root (no SHA256SUMS)" >&2; exit 2
fi

VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
DEB_ARCH=amd64
TAR_ARCH=$(uname -m)
DIST=$ROOT/dist
BUNDLE=$DIST/SketchFind
TARBALL=$DIST/SketchFind-$VERSION-linux-$TAR_ARCH.tar.gz
DEB=$DIST/sketchfind_${VERSION}_${DEB_ARCH}.deb
WORK=$ROOT/build/pyinstaller
start=$(date +%s%N)  # ns

echo "== PyInstaller (SketchFind $VERSION)"
rm -rf "$BUNDLE" "$TARBALL" "$DEB"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK" packaging/sketchfind.spec
[ -x "$BUNDLE/SketchFind" ] || { echo "build.sh: PyInstaller made no $BUNDLE/SketchFind" >&2; exit 1; }
pyinstaller_s=$(( ($(date +%s%N) - start) / 1000000000 ))

if [ -n "$DATA_ROOT" ]; then
  echo "== demo catalogue from $DATA_ROOT"
  dest=$BUNDLE/data/qmul_v1
  mkdir -p "$dest"
  for category in shoes chairs; do
    mkdir -p "$dest/$category"
    cp -p "$DATA_ROOT/$category"/*.mat "$dest/$category/"
    cp -p "$DATA_ROOT/$category"/*.json "$dest/$category/" 2>/dev/null || true  # the photo names and triplets
  done
  cp -rp "$DATA_ROOT/attributes" "$dest/"
  cp -p "$DATA_ROOT/SHA256SUMS" "$dest/"
  [ -f "$DATA_ROOT/PROVENANCE.md" ] && cp -p "$DATA_ROOT/PROVENANCE.md" "$dest/"
  chmod -R u+w,go-w "$dest"
fi

# the newest glibc any bundled binary asks for (the build machine's, through libpython and
# the bundled libstdc++): neither the .deb nor the README may promise an older one
glibc=$(find "$BUNDLE" -type f \( -name '*.so*' -o -name SketchFind \) -print0 | xargs -0 objdump -T 2>/dev/null \
        | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
if [ -z "$glibc" ]; then echo "build.sh: cannot read the glibc the bundle needs (objdump from binutils)" >&2; exit 1; fi
echo "   needs glibc >= $glibc"
# what someone who unpacks the tar.gz finds first: how to run it, and the bundled software's licences
sed -e "s/@VERSION@/$VERSION/" -e "s/@GLIBC@/$glibc/" packaging/bundle_readme.txt > "$BUNDLE/README.txt"
install -m 0644 packaging/debian/copyright "$BUNDLE/COPYRIGHT"

if [ "$MAKE_TAR" = 1 ]; then
  echo "== $(basename "$TARBALL")"
  if command -v pigz >/dev/null; then
    tar -C "$DIST" -cf - SketchFind | pigz -6 > "$TARBALL"
  else
    tar -C "$DIST" -czf "$TARBALL" SketchFind
  fi
fi

if [ "$MAKE_DEB" = 1 ]; then
  echo "== $(basename "$DEB")"
  stage=$ROOT/build/deb/sketchfind_${VERSION}_${DEB_ARCH}
  rm -rf "$stage"
  mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
           "$stage/usr/share/doc/sketchfind" "$stage/usr/share/icons/hicolor/scalable/apps"
  cp -al "$BUNDLE" "$stage/opt/sketchfind" 2>/dev/null || cp -a "$BUNDLE" "$stage/opt/sketchfind"
  # a wrapper, not a symlink: it also works from a tree unpacked with `dpkg -x ROOT`
  cat > "$stage/usr/bin/sketchfind" <<'EOF'
#!/bin/sh
# SketchFind launcher (the program lives in /opt/sketchfind)
here=$(dirname "$(readlink -f "$0")")
exec "$here/../../opt/sketchfind/SketchFind" "$@"
EOF
  chmod 0755 "$stage/usr/bin/sketchfind"
  install -m 0644 packaging/sketchfind.desktop "$stage/usr/share/applications/sketchfind.desktop"
  install -m 0644 packaging/sketchfind.svg "$stage/usr/share/icons/hicolor/scalable/apps/sketchfind.svg"
  for size in 16 24 32 48 64 128 256 512; do
    mkdir -p "$stage/usr/share/icons/hicolor/${size}x${size}/apps"
    install -m 0644 "$WORK/sketchfind/icons/sketchfind-$size.png" "$stage/usr/share/icons/hicolor/${size}x${size}/apps/sketchfind.png"
  done
  install -m 0644 packaging/debian/copyright "$stage/usr/share/doc/sketchfind/copyright"
  installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$DEB_ARCH/" -e "s/@INSTALLED_SIZE@/$installed_kb/" -e "s/@GLIBC@/$glibc/" \
      packaging/debian/control.in > "$stage/DEBIAN/control"
  chmod -R go-w "$stage"
  # xz -1: 25 % smaller than gzip at twice its time; xz's default -6 takes 8 minutes on 2 cores
  # for 1 % less. DEB_COMPRESSION=gzip|zstd|xz and DEB_LEVEL=0-9 choose otherwise.
  dpkg-deb --build --root-owner-group -Z"${DEB_COMPRESSION:-xz}" -z"${DEB_LEVEL:-1}" "$stage" "$DEB" >/dev/null
  rm -rf "$stage"
fi

total_s=$(( ($(date +%s%N) - start) / 1000000000 ))
bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
{
  echo "version=$VERSION"
  echo "build_seconds=$total_s"
  echo "pyinstaller_seconds=$pyinstaller_s"
  echo "bundle_bytes=$bundle_bytes"
  [ -d "$BUNDLE/data" ] && echo "demo_data_bytes=$(du -sb "$BUNDLE/data" | cut -f1)"
  echo "demo_data=$([ -n "$DATA_ROOT" ] && echo yes || echo no)"
  [ -f "$TARBALL" ] && echo "tarball=$(basename "$TARBALL") $(stat -c %s "$TARBALL")"
  [ -f "$DEB" ] && echo "deb=$(basename "$DEB") $(stat -c %s "$DEB")"
} > "$DIST/BUILD_INFO"
echo "== done in $total_s s"
cat "$DIST/BUILD_INFO"
program_bytes=$bundle_bytes
[ -d "$BUNDLE/data" ] && program_bytes=$((bundle_bytes - $(du -sb "$BUNDLE/data" | cut -f1)))
if [ "$program_bytes" -gt $((600 * 1000 * 1000)) ]; then
  echo "build.sh: WARNING: the program is $((program_bytes / 1000000)) MB (without the demo data), over the 600 MB target" >&2
fi

#!/usr/bin/env bash
# Smoke test of the standalone SketchFind (CI runs it after the unit tests):
#
#     packaging/smoke_test.sh [--no-build] [--data-root DIR]
#
# 1. builds dist/ with packaging/build.sh (--no-build: reuse the existing dist/)
# 2. the bundle's headless query == `.venv/bin/fgsbir query ... --json` on the same sketch
#    (test sketch 0 of shoes, written to a temp PNG at test time): with the bundled model when
#    resources/models has one, and always with a seeded untrained checkpoint passed as --weights
#    and a folder of synthetic product photos indexed by the bundle == `fgsbir query --catalogue`
# 3. the .deb unpacked with `dpkg -x` into build/smoke-deb (beside dist/): its /usr/bin/sketchfind answers the same,
#    its .desktop entry and icons are in place
# 4. the GUI starts offscreen (QT_QPA_PLATFORM=offscreen), paints its window, closes cleanly (exit 0)
#
# Benchmark data: --data-root, else $FGSBIR_DATA, else ../shared/data/qmul_v1. Without it the
# query comparisons are skipped (said so), the rest still runs. Exit status 0 = all passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
# the reference: the development install's `fgsbir` (the same code, not frozen)
if [ -z "${FGSBIR:-}" ]; then
  if [ -x "$ROOT/.venv/bin/fgsbir" ]; then FGSBIR=$ROOT/.venv/bin/fgsbir; else FGSBIR="$PY -m fgsbir_core.cli"; fi
fi
DEVPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}  # PYTHONPATH for the venv side, also without the editable install
unset PYTHONPATH  # the bundle gets a clean environment
BUILD=1
DATA_ROOT=${FGSBIR_DATA:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --data-root) DATA_ROOT=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "smoke_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$DATA_ROOT" ] && [ -d "$ROOT/../shared/data/qmul_v1" ]; then DATA_ROOT=$(cd "$ROOT/../shared/data/qmul_v1" && pwd); fi

failures=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
skip() { echo "SKIP  $*"; }

if [ "$BUILD" = 1 ]; then
  if [ -n "$DATA_ROOT" ] && [ -f "$DATA_ROOT/SHA256SUMS" ]; then packaging/build.sh --data-root "$DATA_ROOT"; else packaging/build.sh; fi
elif [ ! -x dist/SketchFind/SketchFind ]; then
  echo "smoke_test.sh: --no-build but no dist/SketchFind/SketchFind: run packaging/build.sh" >&2; exit 2
fi
VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
BUNDLE=$ROOT/dist/SketchFind
DEB=$ROOT/dist/sketchfind_${VERSION}_amd64.deb
TARBALL=$ROOT/dist/SketchFind-$VERSION-linux-$(uname -m).tar.gz

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sketchfind-smoke.XXXXXX")
# the unpacked .deb (600 MB) goes beside dist/, on the disk that just held the build, not in a
# temp folder that may be a small RAM disk
DEBROOT=$ROOT/build/smoke-deb
trap 'rm -rf "$TMP" "$DEBROOT"' EXIT
# nothing of the user's: preferences, Qt settings and the embedding cache go to the temp folder
export SKETCHFIND_CONFIG_DIR=$TMP/config XDG_CONFIG_HOME=$TMP/xdg-config XDG_CACHE_HOME=$TMP/xdg-cache
export FGSBIR_CACHE=$TMP/cache
unset FGSBIR_DATA

# -- 0. what was built
[ -x "$BUNDLE/SketchFind" ] && pass "bundle executable $BUNDLE/SketchFind" || fail "no bundle executable"
[ -x "$BUNDLE/_internal/torch/bin/torch_shm_manager" ] && pass "torch_shm_manager kept" || fail "torch_shm_manager missing"
# size of the program (the optional demo catalogue in data/ not counted), MB = 10^6 bytes:
# the target is 600 MB; over 650 MB some trimming has stopped working
demo_bytes=0
[ -d "$BUNDLE/data" ] && demo_bytes=$(du -sb "$BUNDLE/data" | cut -f1)
bundle_mb=$(( ($(du -sb "$BUNDLE" | cut -f1) - demo_bytes) / 1000000 ))
models_mb=0
for f in "$BUNDLE"/_internal/resources/models/*.pt; do [ -f "$f" ] && models_mb=$((models_mb + $(stat -c %s "$f"))); done
models_mb=$((models_mb / 1000000))
if [ "$bundle_mb" -le 600 ]; then pass "bundle size ${bundle_mb} MB <= 600 MB (models ${models_mb} MB; demo data $((demo_bytes / 1000000)) MB more)"
elif [ "$bundle_mb" -le 650 ]; then echo "WARN  bundle size ${bundle_mb} MB > 600 MB target (models ${models_mb} MB)"
else fail "bundle size ${bundle_mb} MB > 650 MB: trimming broke? (packaging/trim.py)"; fi
if [ -f "$TARBALL" ] && tar -tzf "$TARBALL" > "$TMP/tar.list" && grep -qx 'SketchFind/SketchFind' "$TMP/tar.list"; then
  pass "$(basename "$TARBALL") holds SketchFind/SketchFind"
  if grep -qx 'SketchFind/README.txt' "$TMP/tar.list" && grep -qx 'SketchFind/COPYRIGHT' "$TMP/tar.list" \
     && ! grep -q '@[A-Z]*@' "$BUNDLE/README.txt" && grep -q "SketchFind $VERSION" "$BUNDLE/README.txt"; then
    pass "it carries README.txt (SketchFind $VERSION) and COPYRIGHT"
  else
    fail "README.txt (filled in) or COPYRIGHT missing from $(basename "$TARBALL")"
  fi
else
  fail "no usable $TARBALL"
fi

dangling=$(find "$BUNDLE" -xtype l | head -n 3)
if [ -z "$dangling" ]; then pass "no dangling symbolic links in the bundle"; else fail "dangling links: $dangling"; fi

# the bundle knows its version (the package metadata went in: About and the log say it too)
bundle_version=$("$BUNDLE/SketchFind" --version 2>&1 || true)
if [ "$bundle_version" = "SketchFind $VERSION" ]; then pass "bundle --version: $bundle_version"
else fail "bundle --version says '$bundle_version', not 'SketchFind $VERSION'"; fi

# every Python extension and the Qt platform/image plugins find their libraries (in the bundle,
# or on the system for those trim.SYSTEM_LIBRARIES leaves to it; not the Wayland plugin, whose
# libwayland-* come with a Wayland desktop)
missing=$(cd "$BUNDLE/_internal" && find . \( -name '*.so' -path '*cpython*' -o -path './PySide6/Qt/plugins/platforms/*' \
            -o -path './PySide6/Qt/plugins/imageformats/*' -o -path './PySide6/Qt/plugins/xcbglintegrations/*' \
            -o -path './torch/lib/*.so*' \) -not -name 'libqwayland*' -type f -print0 | LD_LIBRARY_PATH=$PWD xargs -0 -n 20 ldd 2>/dev/null \
          | grep 'not found' | sort -u | tr -s ' \t' ' ' || true)
if [ -z "$missing" ]; then pass "all libraries resolve (ldd)"; else fail "unresolved libraries: $missing"; fi

run_query() {  # run_query OUT EXE [args...]: the headless query, JSON to OUT ($QUERY_DATA: the data root)
  local out=$1; shift
  if [ "${QUERY_DATA-$DATA_ROOT}" = bundled ]; then  # no $FGSBIR_DATA: the bundle's demo catalogue
    env -u FGSBIR_DATA timeout 300 "$@" --query "$SKETCH" --category shoes --top 10 --json > "$out" 2> "$out.err"
  else
    FGSBIR_DATA=${QUERY_DATA-$DATA_ROOT} timeout 300 "$@" --query "$SKETCH" --category shoes --top 10 --json > "$out" 2> "$out.err"
  fi
}
compare_query() {  # compare_query LABEL EXPECTED EXE [args...]
  local label=$1 expected=$2; shift 2
  local out=$TMP/actual-$RANDOM.json
  local rc=0
  run_query "$out" "$@" || rc=$?
  if [ "$rc" != 0 ]; then
    fail "$label: exit status $rc ($(tail -3 "$out.err" | tr '\n' ' '))"
  elif PYTHONPATH=$DEVPATH "$PY" packaging/smoke_helpers.py compare "$expected" "$out"; then
    pass "$label: same top 10 as fgsbir query"
  else
    fail "$label: answer differs from fgsbir query"
  fi
}

# -- 1. headless query: bundle and venv agree
SKETCH=$TMP/shoes_test_sketch_0.png
have_data=0
if [ -n "$DATA_ROOT" ] && [ -f "$DATA_ROOT/shoes/shoes_sketch_db_test.mat" ]; then
  have_data=1
  PYTHONPATH=$DEVPATH "$PY" packaging/smoke_helpers.py sketch "$SKETCH" --data-root "$DATA_ROOT" --category shoes --index 0
  PYTHONPATH=$DEVPATH "$PY" packaging/smoke_helpers.py checkpoint "$TMP/untrained_shoes.pt" --data-root "$DATA_ROOT" --category shoes
  PYTHONPATH=$DEVPATH FGSBIR_DATA=$DATA_ROOT $FGSBIR query --category shoes --top 10 --json --weights "$TMP/untrained_shoes.pt" "$SKETCH" > "$TMP/expected-untrained.json"
  compare_query "bundle query (--weights untrained checkpoint)" "$TMP/expected-untrained.json" "$BUNDLE/SketchFind" --weights "$TMP/untrained_shoes.pt"
  if [ -f "$BUNDLE/data/qmul_v1/SHA256SUMS" ]; then
    QUERY_DATA=bundled compare_query "bundle query on its demo catalogue (no \$FGSBIR_DATA)" "$TMP/expected-untrained.json" \
      "$BUNDLE/SketchFind" --weights "$TMP/untrained_shoes.pt"
  else
    skip "demo catalogue query: the bundle was built without --data-root"
  fi
  if [ -f "$BUNDLE/_internal/resources/models/shoes_mtl.pt" ]; then
    PYTHONPATH=$DEVPATH FGSBIR_DATA=$DATA_ROOT $FGSBIR query --category shoes --top 10 --json "$SKETCH" > "$TMP/expected-bundled.json"
    compare_query "bundle query (bundled shoes model)" "$TMP/expected-bundled.json" "$BUNDLE/SketchFind"
  else
    skip "bundled-model query: no resources/models/shoes_mtl.pt in the bundle (models not trained yet when it was built)"
  fi
else
  skip "query comparisons: no benchmark data (--data-root, \$FGSBIR_DATA or ../shared/data/qmul_v1)"
fi

# -- 1b. a user's photo folder (the edge extractor, frozen): bundle and venv agree, the corrupt
# file is skipped; each side indexes from scratch in its own cache
if [ -f "$BUNDLE/_internal/resources/models/shoes_mtl.pt" ]; then
  PYTHONPATH=$DEVPATH "$PY" packaging/smoke_helpers.py photos "$TMP/catalogue/photos"
  CSKETCH=$TMP/catalogue/catalogue_sketch.png
  PYTHONPATH=$DEVPATH FGSBIR_CACHE=$TMP/cache-venv $FGSBIR query --category shoes --top 5 --json \
    --catalogue "$TMP/catalogue/photos" "$CSKETCH" > "$TMP/expected-catalogue.json" 2> "$TMP/expected-catalogue.err"
  rc=0
  FGSBIR_CACHE=$TMP/cache-bundle timeout 300 "$BUNDLE/SketchFind" --query "$CSKETCH" --category shoes --top 5 --json \
    --catalogue "$TMP/catalogue/photos" > "$TMP/actual-catalogue.json" 2> "$TMP/actual-catalogue.err" || rc=$?
  if [ "$rc" != 0 ]; then
    fail "bundle catalogue query: exit status $rc ($(tail -3 "$TMP/actual-catalogue.err" | tr '\n' ' '))"
  elif PYTHONPATH=$DEVPATH "$PY" packaging/smoke_helpers.py compare "$TMP/expected-catalogue.json" "$TMP/actual-catalogue.json"; then
    pass "bundle catalogue query (72 photos indexed by the bundle in its worker processes): same top 5 as fgsbir query --catalogue"
  else
    fail "bundle catalogue query: answer differs from fgsbir query --catalogue"
  fi
else
  skip "catalogue query: no resources/models/shoes_mtl.pt in the bundle"
fi

# -- 2. the .deb, unpacked beside dist/
deb_unpacked=0
if [ -f "$DEB" ]; then
  rm -rf "$DEBROOT"; mkdir -p "$DEBROOT"
  need_mb=$(( $(dpkg-deb -f "$DEB" Installed-Size) * 1024 / 1000000 + 50 ))  # Installed-Size is in KiB
  free_mb=$(( $(df -Pk "$DEBROOT" | awk 'NR == 2 {print $4}') / 1000 ))
  if [ "$free_mb" -lt "$need_mb" ]; then
    fail ".deb not unpacked: it needs $need_mb MB, $DEBROOT has $free_mb MB free"
  elif dpkg-deb -x "$DEB" "$DEBROOT" 2> "$TMP/dpkg-x.err"; then
    deb_unpacked=1
  else
    fail ".deb did not unpack: $(tail -2 "$TMP/dpkg-x.err" | tr '\n' ' ')"
  fi
fi
if [ "$deb_unpacked" = 1 ]; then
  [ "$(dpkg-deb -f "$DEB" Package)" = sketchfind ] && [ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] \
    && pass ".deb control: sketchfind $VERSION" || fail ".deb control fields"
  needed=$(find "$DEBROOT/opt/sketchfind" -type f \( -name '*.so*' -o -name SketchFind \) -print0 | xargs -0 objdump -T 2>/dev/null \
           | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
  promised=$(dpkg-deb -f "$DEB" Depends | grep -o 'libc6 (>= [0-9.]*' | grep -o '[0-9.]*$')
  if [ -n "$needed" ] && [ "$(printf '%s\n%s\n' "$needed" "$promised" | sort -V | tail -n 1)" = "$promised" ]; then
    pass ".deb asks for libc6 >= $promised; its binaries need glibc $needed"
  else
    fail ".deb asks for libc6 >= ${promised:-?}, but its binaries need glibc ${needed:-?}"
  fi
  for f in usr/bin/sketchfind opt/sketchfind/SketchFind usr/share/applications/sketchfind.desktop \
           usr/share/icons/hicolor/256x256/apps/sketchfind.png usr/share/icons/hicolor/scalable/apps/sketchfind.svg; do
    [ -e "$DEBROOT/$f" ] || missing_in_deb="${missing_in_deb:-} /$f"
  done
  if [ -z "${missing_in_deb:-}" ]; then pass ".deb layout: /opt/sketchfind, /usr/bin/sketchfind, .desktop, icons"
  else fail ".deb lacks$missing_in_deb"; fi
  if dpkg-deb -c "$DEB" | awk '{print $2}' | grep -qv '^root/root$'; then fail ".deb has files not owned by root"; else pass ".deb files owned by root/root"; fi
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$DEBROOT/usr/share/applications/sketchfind.desktop" && pass "desktop-file-validate" || fail "desktop-file-validate"
  fi
  if [ "$have_data" = 1 ]; then
    compare_query "installed .deb query (/usr/bin/sketchfind)" "$TMP/expected-untrained.json" "$DEBROOT/usr/bin/sketchfind" --weights "$TMP/untrained_shoes.pt"
  else
    if "$DEBROOT/usr/bin/sketchfind" --help > /dev/null; then pass "installed .deb runs (--help)"; else fail "installed .deb --help"; fi
  fi
elif [ ! -f "$DEB" ]; then
  fail "no $DEB"
fi

# -- 3. the GUI, offscreen: shows its window, loads a model, then closes cleanly
gui() {  # gui LABEL EXE [args...]
  local label=$1 exe=$2 log=$TMP/gui-$RANDOM.log rc=0
  shift 2
  QT_QPA_PLATFORM=offscreen SKETCHFIND_REPORT_SHOWN=1 SKETCHFIND_QUIT_AFTER_MS=${GUI_MS:-8000} \
    SKETCHFIND_LAUNCHED_AT=$(date +%s.%N) FGSBIR_DATA=$DATA_ROOT timeout -k 5 120 "$exe" "$@" > "$log" 2>&1 || rc=$?
  if [ "$rc" = 0 ] && grep -q '^sketchfind-shown:' "$log"; then
    pass "$label: window shown and closed, exit 0 ($(grep -o 'launch_to_window_s: [0-9.]*' "$log"); $(grep -o 'model=[a-z]*' "$log"))"
  else
    fail "$label: exit status $rc; log: $(tail -5 "$log" | tr '\n' ' ')"
  fi
  if [ "$#" -gt 0 ] && ! grep -q 'model=ready' "$log"; then
    fail "$label: the model did not load in the window: $(grep 'sketchfind-state' "$log")"
  fi
  if grep -qiE 'Traceback|Segmentation|Aborted|ModuleNotFoundError' "$log"; then
    fail "$label: errors in the log: $(grep -iE 'Traceback|Error' "$log" | head -3 | tr '\n' ' ')"
  fi
}
mkdir -p "$SKETCHFIND_CONFIG_DIR"
echo '{"first_run_done": true}' > "$SKETCHFIND_CONFIG_DIR/preferences.json"  # no first-run question
if [ -f "$TMP/untrained_shoes.pt" ]; then
  gui "GUI offscreen (dist bundle, untrained checkpoint)" "$BUNDLE/SketchFind" --weights "$TMP/untrained_shoes.pt" --category shoes
else
  gui "GUI offscreen (dist bundle)" "$BUNDLE/SketchFind"
fi
if [ -f "$BUNDLE/_internal/resources/models/shoes_mtl.pt" ]; then
  gui "GUI offscreen (dist bundle, bundled model)" "$BUNDLE/SketchFind" --category shoes
fi
[ "$deb_unpacked" = 1 ] && gui "GUI offscreen (installed .deb)" "$DEBROOT/usr/bin/sketchfind"

echo
[ -f dist/BUILD_INFO ] && sed 's/^/  /' dist/BUILD_INFO
if [ "$failures" -gt 0 ]; then
  echo "smoke test: $failures FAILED"
  exit 1
fi
echo "smoke test: all passed"

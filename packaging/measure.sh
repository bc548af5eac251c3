#!/usr/bin/env bash
# Figures of the standalone SketchFind: sizes, build time, launch-to-window time, query time.
#
#     packaging/measure.sh [--build] [--runs N] [--data-root DIR]
#
# --build runs packaging/build.sh first (and times it); otherwise it reads dist/BUILD_INFO.
# Launch to window: seconds from the exec of dist/SketchFind/SketchFind to its main window's
# first paint, N runs (default 3), both
#   offscreen  (QT_QPA_PLATFORM=offscreen; the bundle reports the paint: SKETCHFIND_REPORT_SHOWN)
#   Xvfb       (a real X server; polled from outside with xdotool until the window is viewable)
# the second only when xvfb-run and xdotool are installed
# (apt-get install -y --no-install-recommends xvfb xdotool libxcb-icccm4 libxcb-keysyms1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=3
BUILD=0
DATA_ROOT=${FGSBIR_DATA:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=1; shift ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --data-root) DATA_ROOT=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "measure.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$BUILD" = 1 ]; then
  if [ -n "$DATA_ROOT" ]; then packaging/build.sh --data-root "$DATA_ROOT"; else packaging/build.sh; fi
fi
BUNDLE=$ROOT/dist/SketchFind
[ -x "$BUNDLE/SketchFind" ] || { echo "measure.sh: no $BUNDLE/SketchFind: run packaging/build.sh (or --build)" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sketchfind-measure.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export SKETCHFIND_CONFIG_DIR=$TMP/config XDG_CONFIG_HOME=$TMP/xdg-config XDG_CACHE_HOME=$TMP/xdg-cache FGSBIR_CACHE=$TMP/cache
mkdir -p "$SKETCHFIND_CONFIG_DIR"
# no first-run question about the data folder (it would be the first thing painted otherwise)
echo '{"first_run_done": true}' > "$SKETCHFIND_CONFIG_DIR/preferences.json"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
info() { grep "^$1=" dist/BUILD_INFO 2>/dev/null | cut -d= -f2- || true; }
now() { date +%s.%N; }

echo "SketchFind $(info version) bundle figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU cores)"
demo=0
[ -d "$BUNDLE/data/qmul_v1" ] && demo=$(du -sb "$BUNDLE/data/qmul_v1" | cut -f1)
total=$(du -sb "$BUNDLE" | cut -f1)
echo "  bundle dist/SketchFind/            $(mb "$total") unpacked ($(mb $((total - demo))) without the $(mb "$demo") demo catalogue); target <= 600 MB"
for f in dist/*.tar.gz dist/*.deb; do
  [ -f "$f" ] && printf '  %-34s %s\n' "$(basename "$f")" "$(mb "$(stat -c %s "$f")")"
done
[ -n "$(info build_seconds)" ] && echo "  build time                         $(info build_seconds) s (PyInstaller $(info pyinstaller_seconds) s, the rest tar.gz + .deb)"

# -- launch to window, offscreen: the bundle reports its first paint
times=()
for i in $(seq "$RUNS"); do
  log=$TMP/off-$i.log
  QT_QPA_PLATFORM=offscreen SKETCHFIND_REPORT_SHOWN=1 SKETCHFIND_QUIT_AFTER_MS=2500 SKETCHFIND_LAUNCHED_AT=$(now) \
    timeout -k 5 60 "$BUNDLE/SketchFind" > "$log" 2>&1 || true
  t=$(grep -o 'launch_to_window_s: [0-9.]*' "$log" | awk '{print $2}' | head -1)
  times+=("${t:-fail}")
done
echo "  launch to window (offscreen)       ${times[*]} s   (target <= 3 s)"

# -- launch to window under Xvfb: polled from outside, no help from the program
if command -v xvfb-run >/dev/null && command -v xdotool >/dev/null; then
  cat > "$TMP/xvfb_probe.sh" <<'EOF'
#!/usr/bin/env bash
# inside xvfb-run: start the bundle, poll until its window is viewable, print the seconds
exe=$1
t0=$(date +%s.%N)
QT_QPA_PLATFORM=xcb SKETCHFIND_QUIT_AFTER_MS=6000 "$exe" > /dev/null 2>&1 &
pid=$!
shown=""
for _ in $(seq 3000); do
  if xdotool search --onlyvisible --name 'SketchFind$' > /dev/null 2>&1; then shown=$(date +%s.%N); break; fi
  sleep 0.01
done
wait "$pid" || true
[ -n "$shown" ] && awk -v a="$t0" -v b="$shown" 'BEGIN { printf "%.3f\n", b - a }' || echo fail
EOF
  chmod +x "$TMP/xvfb_probe.sh"
  times=()
  for i in $(seq "$RUNS"); do
    times+=("$(timeout 90 xvfb-run -a -s "-screen 0 1280x800x24" "$TMP/xvfb_probe.sh" "$BUNDLE/SketchFind" 2>/dev/null | tail -1)")
  done
  echo "  launch to window (Xvfb, xdotool)   ${times[*]} s"
else
  echo "  launch to window (Xvfb)            skipped: needs xvfb-run and xdotool"
fi

# -- headless query: start to JSON
if [ -n "$DATA_ROOT" ] && [ -f "$DATA_ROOT/shoes/shoes_sketch_db_test.mat" ]; then
  "$ROOT/.venv/bin/python" packaging/smoke_helpers.py sketch "$TMP/sketch.png" --data-root "$DATA_ROOT"
  weights=()
  if [ ! -f "$BUNDLE/_internal/resources/models/shoes_mtl.pt" ]; then
    "$ROOT/.venv/bin/python" packaging/smoke_helpers.py checkpoint "$TMP/untrained.pt" --data-root "$DATA_ROOT"
    weights=(--weights "$TMP/untrained.pt")
  fi
  for pass in cold warm; do  # cold: the photo embeddings are computed and cached; warm: read back
    t0=$(now)
    FGSBIR_DATA=$DATA_ROOT "$BUNDLE/SketchFind" --query "$TMP/sketch.png" --category shoes --top 10 --json "${weights[@]}" > /dev/null
    echo "  headless query, $pass cache          $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s${weights[*]:+ (untrained checkpoint: no bundled model yet)}"
  done
fi

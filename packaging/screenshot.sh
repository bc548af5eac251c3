#!/usr/bin/env bash
# A screenshot of the bundled program's window under Xvfb (a real X server, no screen needed):
#
#     packaging/screenshot.sh [OUT.png] [SketchFind args...]     (default docs/screenshot_bundle.png)
#
# Needs dist/SketchFind (packaging/build.sh) and
#   apt-get install -y --no-install-recommends xvfb libxcb-icccm4 libxcb-keysyms1
# It starts dist/SketchFind/SketchFind with a fresh configuration and no photo catalogue (no
# benchmark image may end up in the picture), waits SHOT_MS (default 12000) for the model to
# load, saves the window (SKETCHFIND_SCREENSHOT) and closes it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-docs/screenshot_bundle.png}")
shift || true
[ -x dist/SketchFind/SketchFind ] || { echo "screenshot.sh: no dist/SketchFind: run packaging/build.sh" >&2; exit 2; }
command -v xvfb-run >/dev/null || { echo "screenshot.sh: needs xvfb-run (apt-get install xvfb)" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sketchfind-shot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/config" "$(dirname "$OUT")"
echo '{"first_run_done": true}' > "$TMP/config/preferences.json"
env -u FGSBIR_DATA SKETCHFIND_CONFIG_DIR="$TMP/config" XDG_CONFIG_HOME="$TMP/xdg" FGSBIR_CACHE="$TMP/cache" \
  QT_QPA_PLATFORM=xcb SKETCHFIND_SCREENSHOT="$OUT" SKETCHFIND_QUIT_AFTER_MS="${SHOT_MS:-12000}" \
  timeout -k 5 120 xvfb-run -a -s "-screen 0 1280x800x24" dist/SketchFind/SketchFind "$@" 2>&1 \
  | grep -E '^sketchfind-(screenshot|state)' || true
[ -s "$OUT" ] && echo "saved $OUT" || { echo "screenshot.sh: no picture made" >&2; exit 1; }

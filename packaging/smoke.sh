#!/usr/bin/env bash
# Smoke-test a built bundle the way a machine without Python packages runs it:
#   packaging/smoke.sh [BUNDLE_DIR]        default: dist/liqdesk
# runs `liqdesk --version` and `liqdesk --screenshot x.png --quit-after 15` (offscreen) with an empty
# environment (env -i: no PYTHONPATH, no venv, a fresh HOME and config folder) from a temporary folder,
# then checks the screenshot shows a populated heatmap (packaging/check_screenshot.py, run by the
# python on PATH, which needs PySide6: the build or CI venv). Exit 1 when any step fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bundle="$(cd "${1:-$here/../dist/liqdesk}" && pwd)"
exe="$bundle/liqdesk"
[ -x "$exe" ] || exe="$bundle/liqdesk.exe"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/config" "$work/run"
clean_env=(env -i PATH=/usr/bin:/bin HOME="$work/home" QT_QPA_PLATFORM=offscreen LANG=C.UTF-8
           LIQDESK_CONFIG_DIR="$work/config")
cd "$work/run"

t=$SECONDS
echo "== bundle: liqdesk --version"
version="$("${clean_env[@]}" "$exe" --version)"
echo "$version"
case "$version" in "liqdesk "[0-9]*) ;; *) echo "smoke: unexpected --version output" >&2; exit 1 ;; esac
echo "   ($((SECONDS - t)) s)"

t=$SECONDS
echo "== bundle: liqdesk --screenshot x.png --quit-after 15 (offscreen)"
"${clean_env[@]}" "$exe" --screenshot x.png --quit-after 15
[ -s x.png ] || { echo "smoke: no screenshot written" >&2; exit 1; }
python "$here/check_screenshot.py" x.png
echo "   ($((SECONDS - t)) s)"

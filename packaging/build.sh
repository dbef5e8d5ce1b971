#!/usr/bin/env bash
# Build liqdesk's one-folder desktop bundle into dist/liqdesk/ with PyInstaller (packaging/liqdesk.spec).
#   packaging/build.sh            a fresh build venv with liqdesk and its 'bundle' extra only (never the
#                                 test extra), then the bundle, then a smoke run of dist/liqdesk/liqdesk
#   LIQDESK_BUILD_VENV=DIR        reuse (or create) that venv instead of a temporary one
# Linux and macOS run it as is; on Windows run it from Git Bash (paths and venv layout are handled).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PIP_DISABLE_PIP_VERSION_CHECK=1
t0=$SECONDS

py=${PYTHON:-python3}
command -v "$py" >/dev/null 2>&1 || py=python
venv="${LIQDESK_BUILD_VENV:-$(mktemp -d)/venv}"
if [ ! -d "$venv" ]; then
  "$py" -m venv "$venv"
fi
if [ -x "$venv/Scripts/python.exe" ]; then vpy="$venv/Scripts/python.exe"; else vpy="$venv/bin/python"; fi

echo "== build venv: $venv"
# a regular (not editable) install, so that the metadata the bundle copies is this checkout's
"$vpy" -m pip install -q --upgrade "$root[bundle]"
echo "   ($((SECONDS - t0)) s)"

echo "== pyinstaller"
t1=$SECONDS
rm -rf build/liqdesk dist/liqdesk dist/liqdesk.app
"$vpy" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build" packaging/liqdesk.spec
echo "   ($((SECONDS - t1)) s)"

exe=dist/liqdesk/liqdesk
[ -x "$exe" ] || exe=dist/liqdesk/liqdesk.exe
echo "== smoke: $exe --version"
"$exe" --version
echo "== dist/liqdesk: $(du -sh dist/liqdesk | cut -f1), built in $((SECONDS - t0)) s"

#!/usr/bin/env bash
# Install the desktop launcher of a built bundle for the current user (Linux, freedesktop menus):
#   packaging/install-desktop.sh [BUNDLE_DIR]      default: dist/liqdesk
#   packaging/install-desktop.sh --uninstall
# copies liqdesk.desktop (Exec pointing at BUNDLE_DIR/liqdesk) to ~/.local/share/applications and
# the icons to ~/.local/share/icons/hicolor/<N>x<N>/apps/liqdesk.png and .../scalable/apps/liqdesk.svg.
# XDG_DATA_HOME, when set, replaces ~/.local/share. Nothing outside it is touched.
set -euo pipefail
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
hicolor="$data/icons/hicolor"
sizes="16 32 48 64 128 256"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$apps/liqdesk.desktop" "$hicolor/scalable/apps/liqdesk.svg"
  for n in $sizes; do rm -f "$hicolor/${n}x${n}/apps/liqdesk.png"; done
  echo "removed liqdesk's launcher from $data"
  exit 0
fi

bundle="$(cd "${1:-$(dirname "$0")/../dist/liqdesk}" 2>/dev/null && pwd)" || {
  echo "install-desktop: no bundle at ${1:-dist/liqdesk} (build it with packaging/build.sh)" >&2; exit 2; }
exe="$bundle/liqdesk"
res="$bundle/_internal/liqdesk/resources"
for f in "$exe" "$res/liqdesk.desktop" "$res/icons/liqdesk.svg"; do
  [ -e "$f" ] || { echo "install-desktop: $f is missing: not a liqdesk bundle?" >&2; exit 2; }
done
case "$exe" in
  *[[:space:]\"\'\\\`\$]*) echo "install-desktop: move the bundle to a path without spaces or quotes ($bundle)" >&2; exit 2 ;;
esac

mkdir -p "$apps" "$hicolor/scalable/apps"
for n in $sizes; do
  mkdir -p "$hicolor/${n}x${n}/apps"
  cp "$res/icons/liqdesk-$n.png" "$hicolor/${n}x${n}/apps/liqdesk.png"
done
cp "$res/icons/liqdesk.svg" "$hicolor/scalable/apps/liqdesk.svg"
sed -e "s|^Exec=liqdesk|Exec=$exe|" -e "s|^TryExec=liqdesk|TryExec=$exe|" \
  "$res/liqdesk.desktop" > "$apps/liqdesk.desktop"
chmod 644 "$apps/liqdesk.desktop"
# no icon-theme.cache is written: a cache in ~/.local/share/icons/hicolor that is not kept up to date
# hides icons other applications install later; desktops read the new files on their own
echo "installed $apps/liqdesk.desktop (Exec=$exe) and icons under $hicolor"

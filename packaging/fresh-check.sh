#!/usr/bin/env bash
# A fresh-machine check anyone can run: clone the repository into a temporary folder and run the
# two commands that open README.md (its first two ```bash blocks) exactly as written there (read from README.md, not
# copied here), in a fresh virtual environment, as root and, where runuser and sudo exist, as a
# throwaway non-root user who may sudo; each step's time is reported. Exit 1 when any step fails.
#
#   packaging/fresh-check.sh [REPO]        REPO: a URL, or a local repository whose HEAD is checked
#                                          (default: this checkout's HEAD; uncommitted changes are not)
#   FRESH_CHECK_USER=0 ...                 only the root run
#
# The first command ends in `liqdesk`, which opens the window and runs until it is closed: it is run
# offscreen (QT_QPA_PLATFORM=offscreen, no display needed) and counts as passed once the window has
# painted the heatmap with estimated levels in it and its opening history is built (the window's own
# startup trace, LIQDESK_STARTUP_TRACE); then it is stopped. The second (the tests) must exit 0.
# Run as root (it installs system packages through the README's apt-get and may create the user).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-$(git -C "$here/.." rev-parse --show-toplevel)}"
rev=""
[ -d "$src" ] && rev="$(git -C "$src" rev-parse HEAD)"
window_limit_s=${FRESH_CHECK_WINDOW_S:-900}   # install + first heatmap + opening history
work="$(mktemp -d /tmp/liqdesk-fresh.XXXXXX)"
chmod 755 "$work"
summary=()
failed=0
user=""

cleanup() {
  if [ -n "$user" ]; then
    rm -f "/etc/sudoers.d/liqdesk-fresh-check"
    userdel -r "$user" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# a local checkout is cloned from a git bundle of its HEAD: a non-root user may not clone a
# repository another user owns (git's safe.directory), and a bundle carries exactly HEAD's commits
if [ -n "$rev" ]; then
  git -C "$src" bundle create -q "$work/source.bundle" HEAD || { echo "fresh-check: cannot bundle $src" >&2; exit 1; }
  chmod 644 "$work/source.bundle"
  label="$src at ${rev:0:12}"
  src="$work/source.bundle"
else
  label="$src"
fi

say() { printf '%s\n' "$*"; summary+=("$*"); }

# as_prefix WHO: the command prefix (array AS) that runs as root or, through runuser, as the throwaway
# user, with no trace of this shell's Python (no venv, no PYTHONPATH) and a plain PATH
as_prefix() {
  if [ "$1" = root ]; then
    AS=(env -u VIRTUAL_ENV -u PYTHONPATH PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  else
    AS=(runuser -u "$1" -- env -u VIRTUAL_ENV -u PYTHONPATH PATH=/usr/local/bin:/usr/bin:/bin
        HOME="$(getent passwd "$1" | cut -d: -f6)" USER="$1" LOGNAME="$1")
  fi
}

# check_as WHO: clone, then the two README commands, each timed
check_as() {
  local who=$1 dir="$work/$1" t rc
  mkdir -p "$dir" && { [ "$who" = root ] || chown "$who" "$dir"; }
  as_prefix "$who"
  echo "=== as $who: clone $label"
  t=$SECONDS
  if ! "${AS[@]}" bash -c "git -c advice.detachedHead=false clone -q '$src' '$dir/liqdesk' ${rev:+&& git -C '$dir/liqdesk' -c advice.detachedHead=false checkout -q $rev}"; then
    say "FAIL  $who  clone ($((SECONDS - t)) s)"; failed=1; return
  fi
  say "ok    $who  clone ($((SECONDS - t)) s)"
  # the clone's README.md opening: its first two ```bash blocks, one command each
  mapfile -t commands < <(awk '/^```bash/ { inblock=1; next } /^```/ { inblock=0; if (++blocks == 2) exit; next }
                               inblock && NF' "$dir/liqdesk/README.md")
  if [ "${#commands[@]}" -ne 2 ]; then
    say "FAIL  $who  README.md's first two code blocks hold ${#commands[@]} commands, not 2"; failed=1; return
  fi

  echo "=== as $who: README command 1: ${commands[0]}"
  local trace="$dir/startup-trace.json" log="$dir/command1.log"
  : > "$trace"; : > "$log"
  [ "$who" = root ] || chown "$who" "$trace" "$log"
  t=$SECONDS
  (cd "$dir/liqdesk" && QT_QPA_PLATFORM=offscreen LIQDESK_STARTUP_TRACE="$trace" LIQDESK_CONFIG_DIR="$dir/config" \
     exec setsid "${AS[@]}" bash -c "${commands[0]}" >"$log" 2>&1) &
  local pid=$! verdict=""
  while [ -z "$verdict" ]; do
    sleep 2
    if grep -q history_complete_ms "$trace" 2>/dev/null; then
      verdict="ok"
    elif ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; rc=$?
      verdict="FAIL (exited $rc before the window was up)"
    elif [ $((SECONDS - t)) -gt "$window_limit_s" ]; then
      verdict="FAIL (no populated window after ${window_limit_s} s)"
    fi
  done
  kill -TERM -- "-$pid" 2>/dev/null; sleep 2; kill -KILL -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if [ "$verdict" = ok ]; then
    say "ok    $who  command 1: installed, window up with the heatmap and its history ($((SECONDS - t)) s; trace $(cat "$trace"))"
  else
    say "$verdict  $who  command 1 ($((SECONDS - t)) s); its last lines:"; tail -5 "$log" | sed 's/^/      /'
    failed=1
  fi

  echo "=== as $who: README command 2: ${commands[1]}"
  rm -rf "$dir/liqdesk/.venv"   # a fresh venv for each command, as on a new machine
  t=$SECONDS
  (cd "$dir/liqdesk" && "${AS[@]}" bash -c "${commands[1]}") 2>&1 | tee "$dir/command2.log" | tail -4
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    say "ok    $who  command 2: $(grep -E '[0-9]+ passed' "$dir/command2.log" | tail -1) ($((SECONDS - t)) s)"
  else
    say "FAIL  $who  command 2: exit $rc: $(grep -E '[0-9]+ (passed|failed)' "$dir/command2.log" | tail -1) ($((SECONDS - t)) s)"
    grep -E '^FAILED|^ERROR' "$dir/command2.log" | sed 's/^/      /'; failed=1
  fi
}

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-check: run as root (the README's commands install system packages; the user run needs useradd)" >&2
  exit 2
fi
check_as root
if [ "${FRESH_CHECK_USER:-1}" != 0 ] && command -v runuser >/dev/null && command -v sudo >/dev/null; then
  user="liqfresh$$"
  useradd -m -s /bin/bash "$user"
  echo "$user ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/liqdesk-fresh-check
  chmod 440 /etc/sudoers.d/liqdesk-fresh-check
  check_as "$user"
else
  say "skip  user run (FRESH_CHECK_USER=0, or no runuser/sudo)"
fi

echo
echo "=== fresh-check summary ($label)"
printf '%s\n' "${summary[@]}"
exit "$failed"

#!/usr/bin/env bash
# Installs promtool, which tests/unit/test_monitoring.py runs (`promtool test rules`).
#
# promtool comes from Debian's `prometheus` package, extracted rather than installed (the
# package depends on many libjs-* packages that the tests do not need): `apt-get download`
# and `dpkg -x`, then only usr/bin/promtool is kept (a static Go binary; it links only
# libc). The destination is $PROMTOOL_DIR, by default the project's cache
# ~/.cache/webhook-cert-operator/promtool/, where the test looks for it (or set PROMTOOL).
# Nothing is done when promtool is already there. Prints the installed promtool's path.
set -euo pipefail

dest="${PROMTOOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/webhook-cert-operator/promtool}"
if [ -x "$dest/promtool" ]; then
  echo "$dest/promtool"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "install-promtool: needs apt-get and dpkg (Debian, Ubuntu); elsewhere put promtool" \
    "on PATH or set PROMTOOL to its path" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# apt runs downloads as the _apt user: let it write into the scratch directory.
chmod 0755 "$work"
if ! (cd "$work" && apt-get download -qq prometheus) 2>/dev/null; then
  # A fresh machine has no package lists yet.
  apt-get update -qq
  (cd "$work" && apt-get download -qq prometheus)
fi
dpkg -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$dest"
install -m 0755 "$work/root/usr/bin/promtool" "$dest/promtool"
"$dest/promtool" --version >&2
echo "$dest/promtool"

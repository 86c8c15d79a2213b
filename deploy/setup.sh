#!/usr/bin/env bash
# Installs what Mamori's demo and tests need on a fresh Debian machine, then a virtualenv.
# Usage: deploy/setup.sh [demo|test|bench]   (test also installs Chromium and Node.js; bench
# adds the peer the benchmark compares against: x11vnc, websockify and noVNC, and the
# project's bench extra)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-test}"

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have Xvfb || need_pkgs+=(xvfb)
have xdotool || need_pkgs+=(xdotool)
have xclip || need_pkgs+=(xclip)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need_pkgs+=(fonts-noto-cjk)
if ! python3 -c 'import sys, venv, tkinter; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  need_pkgs+=(python3 python3-venv python3-tk)
fi
if [ "$purpose" = test ] || [ "$purpose" = bench ]; then
  [ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
  have node || need_pkgs+=(nodejs)
fi
if [ "$purpose" = bench ]; then
  have x11vnc || need_pkgs+=(x11vnc)
  have websockify || need_pkgs+=(websockify)
  [ -f /usr/share/novnc/core/rfb.js ] || need_pkgs+=(novnc)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    echo "setup: missing system packages: ${need_pkgs[*]}" >&2
    echo "setup: install them with: sudo apt-get install ${need_pkgs[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need_pkgs[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# The stamp skips a slow re-install when pyproject.toml has not changed.
extra=dev
[ "$purpose" = bench ] && extra=bench
stamp=.venv/.mamori-installed-$extra
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extra]"
  touch "$stamp"
fi

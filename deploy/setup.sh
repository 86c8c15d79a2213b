#!/usr/bin/env bash
# Installs what Mamori's demo and tests need on a fresh Debian machine, then a virtualenv.
# Usage: deploy/setup.sh [demo|test|bench]   (test also installs Chromium and Node.js, and
# for the network tier iproute2, nftables and coturn; bench adds the peer the benchmark
# compares against: x11vnc, websockify and noVNC, and the project's bench extra)
set -euo pipefail
usage() {
  cat <<'EOF'
Usage: deploy/setup.sh [demo|test|bench]

Installs what Mamori needs on a fresh Debian machine (apt packages, then the virtualenv in
.venv). demo: the demo's needs; test (the default): also Chromium, Node.js and the network
tier's tools; bench: also x11vnc, websockify, noVNC and the bench extra.
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
case "${1:-test}" in
  demo | test | bench) ;;
  *) echo "setup.sh: unknown purpose: $1" >&2; usage >&2; exit 2 ;;
esac
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
  # The network tier (and bench/link_overhead.py): namespaces, veth, NAT and filters, and
  # the TURN server the tests start themselves inside a namespace.
  have ip || need_pkgs+=(iproute2)
  have nft || need_pkgs+=(nftables)
  have turnserver || need_pkgs+=(coturn)
  # tests/deploy: `nginx -t` on the proxy example (nginx core and its stream module, small).
  [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need_pkgs+=(libnginx-mod-stream)
  # The host's own Japanese IME on the test display (devkit/ime.py): fcitx5 with Mozc, the
  # core X fonts Tk's XIM input context needs, setxkbmap for the jp106 host keymap, and the
  # ja_JP.UTF-8 locale (generated below).
  have fcitx5 || need_pkgs+=(fcitx5)
  [ -x /usr/lib/mozc/mozc_server ] || need_pkgs+=(fcitx5-mozc)
  [ -d /usr/share/fonts/X11/misc ] || need_pkgs+=(xfonts-base)
  have setxkbmap || need_pkgs+=(x11-xkb-utils)
  have locale-gen || need_pkgs+=(locales)
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
  # Packages install services but must not start them: coturn's system service would take
  # ports 3478 and 5349 on this machine for nothing (the tests run their own turnserver
  # inside a namespace). A policy-rc.d that answers 101 ("action forbidden") stops
  # invoke-rc.d and deb-systemd-invoke from starting anything, with or without systemd;
  # one already present (containers ship one) is left as it is.
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# deploy/setup.sh: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  if [ -n "$own_policy" ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  # Nor at the next boot: the package enables its unit. systemctl is not needed for any of
  # this (containers have none); where it exists, it also works without a running systemd.
  if [[ " ${need_pkgs[*]} " == *" coturn "* ]] && have systemctl; then
    systemctl disable coturn >/dev/null 2>&1 || true
  fi
  if [[ " ${need_pkgs[*]} " == *" nginx "* ]] && have systemctl; then
    systemctl disable nginx >/dev/null 2>&1 || true
  fi
fi

if [ "$purpose" = test ] || [ "$purpose" = bench ]; then
  # The locale the test IME's clients use; and, since Mozc refuses to run as root, the
  # unprivileged user the IME runs as when the tests run as root (devkit/ime.py).
  need_root=()
  locale -a 2>/dev/null | grep -qix 'ja_JP.utf8' || need_root+=("the ja_JP.UTF-8 locale")
  if [ ${#need_root[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "setup: as root, add ${need_root[*]}: run deploy/setup.sh test as root" >&2
    exit 1
  fi
  if ! locale -a 2>/dev/null | grep -qix 'ja_JP.utf8'; then
    echo "setup: generating the ja_JP.UTF-8 locale"
    sed -i 's/^# *\(ja_JP.UTF-8 UTF-8\)/\1/' /etc/locale.gen
    grep -qx 'ja_JP.UTF-8 UTF-8' /etc/locale.gen || echo 'ja_JP.UTF-8 UTF-8' >>/etc/locale.gen
    locale-gen >/dev/null
  fi
  if [ "$(id -u)" -eq 0 ] && ! id -u mamori-ime >/dev/null 2>&1; then
    echo "setup: adding the system user mamori-ime (runs the test IME)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin mamori-ime
  fi
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

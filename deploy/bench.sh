#!/usr/bin/env bash
# The side-by-side benchmark: ours against x11vnc + websockify + noVNC on one virtual display.
# Installs what is missing first (deploy/setup.sh bench), then runs bench/compare.py.
# Usage: deploy/bench.sh [--runs 5] [--window 6] [--out bench/results]
set -euo pipefail
usage() {
  cat <<'EOF'
Usage: deploy/bench.sh [--runs 5] [--window 6] [--out bench/results]

The side-by-side benchmark: ours against x11vnc + websockify + noVNC on one virtual display.
Installs what is missing first (deploy/setup.sh bench), then runs bench/compare.py.
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
cd "$(dirname "$0")/.."
deploy/setup.sh bench
exec .venv/bin/python -m bench.compare "$@"

#!/usr/bin/env bash
# The side-by-side benchmark: ours against x11vnc + websockify + noVNC on one virtual display.
# Installs what is missing first (deploy/setup.sh bench), then runs bench/compare.py.
# Usage: deploy/bench.sh [--runs 5] [--window 6] [--out bench/results]
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh bench
exec .venv/bin/python -m bench.compare "$@"

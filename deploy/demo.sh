#!/usr/bin/env bash
# The demo: a broker on https://localhost:8443, a virtual display with a sample clinic app,
# and an agent streaming it. Prints the first admin's one-time enrollment link. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh demo
exec .venv/bin/python deploy/demo/run.py "$@"

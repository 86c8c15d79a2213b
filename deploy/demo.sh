#!/usr/bin/env bash
# The demo: a broker on https://127.0.0.1:8443, a virtual display with a sample clinic app,
# and an agent streaming it. Prints the one-time link to open. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh demo
exec .venv/bin/python deploy/demo/run.py "$@"

#!/usr/bin/env bash
# The demo: a broker on https://localhost:8443, a virtual display with a sample clinic app,
# and an agent streaming it. Prints the first admin's one-time enrollment link. Ctrl-C stops it.
set -euo pipefail
usage() {
  cat <<'EOF'
Usage: deploy/demo.sh [--help]

Starts the demo: a broker on https://localhost:8443 (MAMORI_DEMO_PORT changes the port), a
virtual display with a sample clinic app, and an agent streaming it; prints the first
admin's one-time enrollment link. Each run starts with a fresh demo database in data/demo/
(the previous one is deleted). Ctrl-C stops everything. Takes no other arguments.

Environment:
  MAMORI_DEMO_PORT   the broker's browser port (default 8443; the agent port is the next one)
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
if [ "$#" -gt 0 ]; then
  echo "demo.sh: unknown argument: $1" >&2
  usage >&2
  exit 2
fi
cd "$(dirname "$0")/.."
deploy/setup.sh demo
exec .venv/bin/python deploy/demo/run.py "$@"

#!/usr/bin/env bash
# Runs every test tier (unit, integration, display, e2e, postgres, network), the browser-core
# tests, lint and type checks. Installs what is missing first (deploy/setup.sh).
set -euo pipefail
usage() {
  cat <<'EOF'
Usage: deploy/test.sh [pytest arguments]

Runs lint and type checks, the browser client's core tests (node --test) and every Python
test tier; installs what is missing first (deploy/setup.sh test). Arguments go to pytest,
e.g. deploy/test.sh -m unit, or deploy/test.sh tests/api -x.
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
cd "$(dirname "$0")/.."
deploy/setup.sh test
echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# The Windows backend as Windows sees it: the bindings under sys.platform == "win32" too.
.venv/bin/mypy --platform win32 --cache-dir .mypy_cache/win32 -p host_agent.platform.windows
echo "== browser client core (node --test)"
node --test tests/web_client/
echo "== python tests (every tier)"
.venv/bin/python -m pytest "$@"

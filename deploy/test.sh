#!/usr/bin/env bash
# Runs every test tier (unit, integration, display, e2e, postgres, network), the browser-core
# tests, lint and type checks. Installs what is missing first (deploy/setup.sh).
set -euo pipefail
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

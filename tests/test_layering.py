"""The package layering DESIGN.md promises: the agent needs nothing of the broker but its
wire protocol, and that protocol needs nothing but the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_host_agent_imports_only_the_protocol_from_broker() -> None:
    """No host_agent module imports any broker module other than broker.protocol."""
    offenders = []
    for path in sorted((ROOT / "host_agent").rglob("*.py")):
        for name in imported_modules(path):
            if name in {"broker", "broker.protocol"} or name.startswith("broker.protocol."):
                continue
            if name == "broker" or name.startswith("broker."):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_broker_package_and_protocol_load_only_the_standard_library() -> None:
    """Importing broker and broker.protocol pulls in no third-party module."""
    code = (
        "import sys; before = set(sys.modules); import broker, broker.protocol; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    third_party = [
        m
        for m in out
        if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "broker"
    ]
    assert "broker.protocol" in out
    assert third_party == []


def test_broker_init_is_empty() -> None:
    """broker/__init__.py holds no code, so importing the protocol runs nothing else."""
    assert (ROOT / "broker" / "__init__.py").read_text().strip() == ""

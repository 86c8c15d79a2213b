"""The deploy scripts answer ``--help`` with their usage and do nothing else: the demo
script once started a demo, deleting the demo database, when asked for help (issue 12)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SCRIPTS = ["demo.sh", "setup.sh", "test.sh", "bench.sh"]


def run_alone(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a copy of ``script`` in an empty tree: anything it did beyond printing would
    fail there (no setup.sh, no .venv, no demo) or leave files behind."""
    (tmp_path / "deploy").mkdir()
    copy = tmp_path / "deploy" / script
    shutil.copy2(DEPLOY / script, copy)
    return subprocess.run(
        ["/bin/bash", str(copy), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_does_nothing_else(script: str, flag: str, tmp_path: Path) -> None:
    """Exit 0, the usage on stdout, nothing on stderr, no file made."""
    done = run_alone(script, tmp_path, flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: deploy/{script}")
    assert done.stderr == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["deploy", script])


def test_the_demo_refuses_arguments_it_does_not_take(tmp_path: Path) -> None:
    """A typo is an error with the usage, not a demo started with the argument ignored."""
    done = run_alone("demo.sh", tmp_path, "--port", "9443")
    assert done.returncode == 2
    assert "unknown argument: --port" in done.stderr


def test_the_demo_usage_names_its_port_variable() -> None:
    """MAMORI_DEMO_PORT is documented in the usage and the README."""
    assert "MAMORI_DEMO_PORT" in (DEPLOY / "demo.sh").read_text()
    assert "MAMORI_DEMO_PORT" in (DEPLOY.parent / "README.md").read_text()

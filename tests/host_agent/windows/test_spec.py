"""The PyInstaller spec (deploy/windows/mamori-agent.spec) is coherent: run here with
PyInstaller's names stubbed, it builds mamori-agent from the launcher, keeps every Windows
module and PyAV's DLLs, and leaves X11 and the broker out. That the .exe builds and runs is
on the README's check-list (PyInstaller does not cross-build)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "deploy" / "windows" / "mamori-agent.spec"


class Recorder:
    def __init__(self, kind: str, calls: dict[str, Any]) -> None:
        self.kind = kind
        self.calls = calls

    def __call__(self, *args: Any, **kwargs: Any) -> types.SimpleNamespace:
        self.calls[self.kind] = (args, kwargs)
        return types.SimpleNamespace(pure=[], scripts=[], binaries=[], datas=[])


def test_spec_builds_the_agent_from_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry point, hidden imports, excludes and the one-folder name, as PyInstaller gets them."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.{m}" for m in ("win32", "service")]  # type: ignore[attr-defined]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    calls: dict[str, Any] = {}
    names = {kind: Recorder(kind, calls) for kind in ("Analysis", "PYZ", "EXE", "COLLECT")}
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), {"SPECPATH": str(SPEC.parent), **names})  # noqa: S102
    (script,), analysis = calls["Analysis"]
    assert Path(script[0]) == ROOT / "deploy" / "windows" / "launcher.py"
    assert Path(script[0]).is_file()
    assert analysis["pathex"] == [str(ROOT)]
    assert "host_agent.platform.windows.win32" in analysis["hiddenimports"]
    assert {"Xlib", "host_agent.platform.x11", "broker"} <= set(analysis["excludes"])
    assert all(dest == "av.libs" for _, dest in analysis["binaries"])
    assert analysis["binaries"], "PyAV's libraries (libx264 among them) must be collected"
    assert calls["EXE"][1]["name"] == "mamori-agent"
    assert calls["COLLECT"][1]["name"] == "mamori-agent"


def test_launcher_runs_the_agents_main() -> None:
    """The frozen entry point is the agent's own ``main``."""
    text = (ROOT / "deploy" / "windows" / "launcher.py").read_text()
    assert "from host_agent.__main__ import main" in text

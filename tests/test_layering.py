"""The package layering DESIGN.md promises: the wire protocol needs nothing but the standard
library, the agent needs nothing of the broker, lower layers never import higher ones, and the
demo and bench share ``devkit`` with the tests, never ``tests`` itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent

# Each package's layers, lowest first; a module may import its own layer and those below.
BROKER_LAYERS: tuple[tuple[str, ...], ...] = (
    # broker.turn mints credentials from plain values; config validates its URLs with it.
    (
        "broker",
        "broker.errors",
        "broker.clock",
        "broker.config",
        "broker.secretbox",
        "broker.turn",
    ),
    ("broker.db", "broker.replicas"),
    ("broker.audit",),
    ("broker.access",),
    ("broker.identity",),
    ("broker.devices", "broker.agents"),
    ("broker.alerts",),
    # A replica's routing is the relay plus Redis: above signaling, below the API.
    ("broker.signaling",),
    (
        "broker.replicas.routing",
        "broker.replicas.fronts",
        "broker.replicas.remote_admission",
        "broker.replicas.remote_resume",
        "broker.replicas.directory",
    ),
    # The resume endpoint takes a page's signaling back wherever its session lives: here,
    # or on another replica through the routing above (nothing below imports it).
    ("broker.signaling.resume_endpoint",),
    ("broker.report",),
    ("broker.api",),
    ("broker.ops",),
    ("broker.server",),
    ("broker.__main__", "broker.audit.cli"),
)
AGENT_LAYERS: tuple[tuple[str, ...], ...] = (
    ("host_agent", "host_agent.errors"),
    ("host_agent.input", "host_agent.video", "host_agent.trust"),
    ("host_agent.platform", "host_agent.platform.x11", "host_agent.platform.windows"),
    ("host_agent.session",),
    ("host_agent.webrtc",),
    ("host_agent.link",),
    ("host_agent.__main__",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (``TYPE_CHECKING`` blocks included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer_of(name: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """The layer of the longest prefix of ``name`` listed in ``layers``."""
    best: tuple[int, int] | None = None
    for index, members in enumerate(layers):
        for prefix in members:
            matches = name == prefix or name.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def upward_imports(package: str, layers: tuple[tuple[str, ...], ...]) -> list[str]:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        own = layer_of(module_name(path), layers)
        assert own is not None, f"{path} is in no layer: add its package to the list"
        for name in imported_modules(path):
            target = layer_of(name, layers)
            if target is not None and target > own:
                offenders.append(f"{module_name(path)} -> {name}")
    return offenders


def test_broker_layers_import_only_downwards() -> None:
    """No broker module imports a module of a higher layer (e.g. audit never imports api)."""
    assert upward_imports("broker", BROKER_LAYERS) == []


def test_agent_layers_import_only_downwards() -> None:
    """In the agent, input/ and video/ never import the platform backends or the WebRTC side."""
    assert upward_imports("host_agent", AGENT_LAYERS) == []


# Names only Windows' ctypes has: a module using them calls Windows directly.
WINDOWS_CTYPES = ("windll", "WinDLL", "WINFUNCTYPE", "oledll", "OleDLL", "HRESULT", "wintypes")


def test_windows_calls_live_in_the_thin_module() -> None:
    """Only ``platform/windows/win32.py`` touches Windows' DLLs (and ``winreg``): the rest of
    the Windows backend is pure logic the Linux tests drive through a fake of it."""
    thin = ROOT / "host_agent" / "platform" / "windows" / "win32.py"
    offenders = [
        finding
        for path in sorted((ROOT / "host_agent").rglob("*.py"))
        if path != thin
        for finding in windows_calls(path)
    ]
    assert offenders == []
    assert windows_calls(thin), "the check must see the thin module's own calls"


def windows_calls(path: Path) -> list[str]:
    found = []
    names = imported_modules(path)
    if any(n in {"winreg", "ctypes.wintypes", "_winapi", "msvcrt"} for n in names):
        found.append(f"{module_name(path)} imports a Windows-only module")
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr in WINDOWS_CTYPES:
            found.append(f"{module_name(path)} uses ctypes.{node.attr}")
    return found


def test_layer_check_catches_an_upward_import() -> None:
    """The layer rule itself: an audit module importing the API would be reported."""
    assert layer_of("broker.api.deps", BROKER_LAYERS) is not None
    assert layer_of("broker.audit.record", BROKER_LAYERS) == 2
    assert layer_of("broker.audit.cli", BROKER_LAYERS) == len(BROKER_LAYERS) - 1
    assert layer_of("broker.api.deps", BROKER_LAYERS) > layer_of(  # type: ignore[operator]
        "broker.audit.record", BROKER_LAYERS
    )


def test_host_agent_imports_nothing_of_the_broker() -> None:
    """No host_agent module imports the broker; they share only ``mamori_protocol``."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "host_agent").rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in {"broker", "devkit", "tests"}
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["mamori_protocol", "broker", "host_agent", "certs", "bench"])
def test_products_and_bench_never_import_tests(package: str) -> None:
    """The demo, the bench and the shipped packages import ``devkit``, never ``tests``."""
    paths = sorted((ROOT / package).rglob("*.py")) + sorted((ROOT / "deploy").rglob("*.py"))
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in paths
        for name in imported_modules(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert offenders == []


def test_protocol_loads_only_the_standard_library() -> None:
    """Importing mamori_protocol pulls in no third-party module (the agent and broker share it)."""
    code = (
        "import sys; before = set(sys.modules); import mamori_protocol; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    third_party = [
        m
        for m in out
        if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "mamori_protocol"
    ]
    assert "mamori_protocol" in out
    assert third_party == []

"""Every dependency of the agent, all the way down, has a wheel for Windows x64 and the
supported Python: ``pip download --platform win_amd64 --python-version 3.11
--only-binary=:all: --no-deps`` from PyPI, for the versions tested here where they are
installed. A clinic PC has no compiler: anything that would need one is found here, not
there. The downloads are kept in the system's temporary directory, so a re-run asks PyPI
only for what is missing.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from host_agent.video.x264 import WHEEL_PATTERNS

pytestmark = pytest.mark.pypi

ROOT = Path(__file__).resolve().parents[3]
PYTHON = "3.11"
# How pip and the markers see a Windows x64 CPython 3.11.
WINDOWS = {
    "os_name": "nt",
    "sys_platform": "win32",
    "platform_system": "Windows",
    "platform_machine": "AMD64",
    "platform_release": "10",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": PYTHON,
    "python_full_version": f"{PYTHON}.9",
}
CACHE = Path(tempfile.gettempdir()) / "mamori-windows-wheels"
DOWNLOAD_TIMEOUT_S = 300


def applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(
        Marker(str(requirement.marker)).evaluate({**WINDOWS, "extra": extra})
        for extra in (extras or {""})
    )


def agent_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"], *project["optional-dependencies"]["agent"]]
    return [r for r in map(Requirement, listed) if applies(r, frozenset())]


def pinned(requirement: Requirement) -> str:
    """``name==version`` of the version installed here (the one the tests ran with) when it
    satisfies the requirement, else the requirement as written."""
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return f"{requirement.name}{requirement.specifier}"
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        return f"{requirement.name}{requirement.specifier}"
    return f"{requirement.name}=={version}"


def cached_wheel(spec: str) -> Path | None:
    name, _, version = spec.partition("==")
    if not version:
        return None
    for wheel in CACHE.glob("*.whl"):
        wheel_name, wheel_version, _, _ = parse_wheel_filename(wheel.name)
        if wheel_name == canonicalize_name(name) and str(wheel_version) == version:
            return wheel
    return None


def download(specs: list[str]) -> None:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--platform", "win_amd64", "--python-version",
        PYTHON, "--implementation", "cp", "-d", str(CACHE), *specs,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"no Windows wheel for {specs}:\n{result.stderr[-2000:]}"


def wheel_for(spec: str) -> Path:
    name = canonicalize_name(Requirement(spec).name)
    found = cached_wheel(spec)
    if found is None:
        download([spec])
        candidates = [w for w in CACHE.glob("*.whl") if parse_wheel_filename(w.name)[0] == name]
        found = max(candidates, key=lambda w: parse_wheel_filename(w.name)[1])
    return found


def dependencies(wheel: Path, extras: frozenset[str]) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        headers = Parser().parsestr(archive.read(meta).decode("utf-8"))
    requirements = [Requirement(text) for text in headers.get_all("Requires-Dist") or []]
    return [r for r in requirements if applies(r, extras)]


@pytest.fixture(scope="module")
def wheels() -> dict[str, Path]:
    """The Windows wheels of the agent's dependency closure, by canonical name."""
    CACHE.mkdir(exist_ok=True)
    todo = [(r, frozenset(r.extras)) for r in agent_requirements()]
    # One pip call for everything not cached yet, then one per package only if it missed.
    missing = [pinned(r) for r, _ in todo if cached_wheel(pinned(r)) is None]
    if missing:
        download(missing)
    found: dict[str, Path] = {}
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found[name] = wheel_for(pinned(requirement))
        todo += [(dep, frozenset(dep.extras)) for dep in dependencies(found[name], extras)]
    return found


def test_every_agent_dependency_has_a_windows_wheel(wheels: dict[str, Path]) -> None:
    """The whole closure resolves to wheels for CPython 3.11 on win_amd64 (or pure Python)."""
    direct = {canonicalize_name(r.name) for r in agent_requirements()}
    assert direct <= set(wheels)
    assert "python-xlib" not in wheels  # X11 only: not installed on Windows
    for name, wheel in wheels.items():
        tags = parse_wheel_filename(wheel.name)[3]
        platforms = {tag.platform for tag in tags}
        assert platforms & {"win_amd64", "any"}, f"{name}: {wheel.name}"
        # cp311 itself, the stable ABI of an older CPython 3 (abi3), or pure Python 3.
        interpreters = {tag.interpreter for tag in tags}
        assert any(i.startswith(("cp3", "py3", "py2")) for i in interpreters), wheel.name


def test_the_windows_pyav_wheel_carries_libx264(wheels: dict[str, Path]) -> None:
    """PyAV's Windows wheel ships a libx264 DLL where the agent's loader looks (x264.py):
    H.264 works on Windows without installing anything else."""
    with zipfile.ZipFile(wheels["av"]) as archive:
        names = archive.namelist()
    assert any(fnmatch.fnmatch(n, pattern) for n in names for pattern in WHEEL_PATTERNS)


def test_the_gdi_fallback_and_the_encoder_are_in_the_closure(wheels: dict[str, Path]) -> None:
    """mss (the GDI fallback), numpy, PyAV and aiortc's own native parts are all there."""
    assert {"mss", "numpy", "av", "aiortc", "pylibsrtp", "cryptography"} <= set(wheels)

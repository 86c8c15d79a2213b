"""Fixtures for the host agent's display tests: a private Xvfb, the sample app, an injector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.display import SampleApp, XvfbDisplay, start_sample_app, start_xvfb


@pytest.fixture(scope="module")
def xvfb() -> Iterator[XvfbDisplay]:
    """A private 1280x720 Xvfb shared by one test module."""
    with start_xvfb(1280, 720) as display:
        yield display


@pytest.fixture
def ehr(xvfb: XvfbDisplay, tmp_path: Path) -> Iterator[SampleApp]:
    """A fresh sample EHR on the module's Xvfb, notes field focused, state file ready."""
    with start_sample_app(xvfb, tmp_path / "state.json") as app:
        yield app

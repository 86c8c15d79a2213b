"""JIS and US keyboards on the viewer, US and JIS (jp106) keymaps on the host, in real
Chromium through the real broker and agent.

The rule (host_agent/input/keysyms.py; README, "Japanese input and keyboard layouts"): a
key that produces a character types the character the viewer's keyboard shows (its
``key``), whatever the host's keymap; the host's keymap only decides which of its keys (and
Shift) produces it, the key at the same position when it can. So Shift+2 types ``"`` from a
JIS keyboard and ``@`` from a US one, on either host. A key whose character the viewer does
not know yet (``Process`` while the viewer's own IME composes, ``Unidentified``) is a
physical key: the host's keymap interprets its ``code``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.display import SampleApp, XvfbDisplay, set_keyboard_layout, start_sample_app
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.cdp_keys import Stroke, press, strokes
from tests.e2e.test_browser_session import page_point

pytestmark = [pytest.mark.e2e, pytest.mark.display]

# What Chromium reports for keys where the JIS and US keyboards differ: (code, key, shift).
JIS_STROKES: list[Stroke] = [
    ("Digit2", '"', True),
    ("Digit7", "'", True),
    ("Digit8", "(", True),
    ("BracketLeft", "@", False),
    ("Quote", ":", False),
    ("Equal", "^", False),
    ("Minus", "=", True),
    ("IntlRo", "_", True),
    ("IntlYen", "¥", False),  # Mac JIS types the yen sign itself
]
JIS_TEXT = "\"'(@:^=_¥"

US_STROKES: list[Stroke] = [
    ("Digit2", "@", True),
    ("Quote", '"', True),
    ("Quote", "'", False),
    ("Digit9", "(", True),
    ("BracketLeft", "[", False),
    ("Equal", "+", True),
    ("Backquote", "`", False),
    ("Minus", "_", True),
    ("Backslash", "\\", False),
]
US_TEXT = "@\"'([+`_\\"


@pytest.fixture(params=["us", "jp"])
def host_layout(request: pytest.FixtureRequest, xvfb: XvfbDisplay) -> str:
    layout: str = request.param
    set_keyboard_layout(xvfb, layout)
    return layout


@pytest.fixture
def sample_app(xvfb: XvfbDisplay, host_layout: str, tmp_path: Path) -> Iterator[SampleApp]:
    """The sample EHR on a host with ``host_layout`` (set before the agent starts)."""
    with start_sample_app(xvfb, tmp_path / "state.json") as app:
        yield app


async def test_the_viewers_keyboard_decides_the_character_on_any_host_keymap(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    host_layout: str,
    doctor: Person,
) -> None:
    """JIS then US strokes type what each keyboard shows; keys still being composed in the
    viewer (Process, Unidentified) type what the host's keymap puts on their position."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.mouse.click(*await page_point(page, *sample_app.center("notes")))
    cdp = await browser.new_cdp_session(page)

    await strokes(cdp, JIS_STROKES)
    await press(cdp, "Enter", "Enter")
    await strokes(cdp, US_STROKES)
    await press(cdp, "Enter", "Enter")
    # Physical: the letter keys are the same on both host keymaps; Semicolon is ";" on a
    # US host and ";" on jp106 too, but BracketLeft is "[" on US and "@" on jp106.
    await press(cdp, "KeyQ", "Process")
    await press(cdp, "Semicolon", "Unidentified")
    await press(cdp, "BracketLeft", "Process")
    physical = "q;" + ("@" if host_layout == "jp" else "[")
    expected = f"{JIS_TEXT}\n{US_TEXT}\n{physical}"
    state = await sample_app.wait_for_async(lambda s: s["notes"] == expected, timeout=20)
    assert state["notes"] == expected

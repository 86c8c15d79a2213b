"""The host's own Japanese IME driven from a real Chromium viewer: the key events a JIS
keyboard makes Chromium report go through the real broker and agent to fcitx5 + Mozc on the
host (devkit/ime.py), and the sample EHR's notes hold the converted Japanese. The host is a
Japanese clinic PC: jp106 keymap, Mozc with its MS-IME keymap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.display import SampleApp, XvfbDisplay, set_keyboard_layout, start_sample_app
from devkit.identity import Person
from devkit.ime import RunningIme, start_ime
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.cdp_keys import press, romaji, strokes
from tests.e2e.test_browser_session import page_point

pytestmark = [pytest.mark.e2e, pytest.mark.display]


@pytest.fixture
def ime(xvfb: XvfbDisplay) -> Iterator[RunningIme]:
    set_keyboard_layout(xvfb, "jp")
    with start_ime(xvfb, layout="jp") as running:
        yield running


@pytest.fixture
def sample_app(xvfb: XvfbDisplay, ime: RunningIme, tmp_path: Path) -> Iterator[SampleApp]:
    """The sample EHR using the host's IME (overrides tests/conftest.py's plain one)."""
    with start_sample_app(xvfb, tmp_path / "state.json", env=ime.client_env()) as app:
        yield app


async def expect(app: SampleApp, ime: RunningIme, notes: str) -> None:
    try:
        await app.wait_for_async(lambda s: s["notes"] == notes, timeout=15)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\nfcitx5:\n{ime.log_tail()}") from exc


async def test_jis_viewer_types_japanese_through_the_host_ime(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    ime: RunningIme,
    doctor: Person,
) -> None:
    """半角/全角 (Backquote) switches the host's IME on; kanjya + 変換 + Enter puts 患者 in
    the notes (the reading never lands as letters); 無変換 turns the reading into katakana;
    半角/全角 again types plain letters; カタカナ/ひらがな switches Japanese input back on;
    a Mac's 英数 and かな switch it off and on."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.mouse.click(*await page_point(page, *sample_app.center("notes")))
    cdp = await browser.new_cdp_session(page)

    await press(cdp, "Backquote", "Zenkaku")
    await strokes(cdp, romaji("kanjya"))
    await press(cdp, "Convert", "Convert")
    await press(cdp, "Enter", "Enter")
    await expect(sample_app, ime, "患者")

    await strokes(cdp, romaji("kanjya"))
    await press(cdp, "NonConvert", "NonConvert")
    await press(cdp, "Enter", "Enter")
    await expect(sample_app, ime, "患者カンジャ")

    await press(cdp, "Backquote", "Hankaku")
    await strokes(cdp, romaji("ka"))
    await expect(sample_app, ime, "患者カンジャka")

    await press(cdp, "KanaMode", "KanaMode")
    await strokes(cdp, romaji("ka"))
    await press(cdp, "Enter", "Enter")
    await expect(sample_app, ime, "患者カンジャkaか")

    # A Mac JIS keyboard: 英数 (Lang2) off, かな (Lang1) on.
    await press(cdp, "Lang2", "Eisu")
    await strokes(cdp, romaji("ki"))
    await expect(sample_app, ime, "患者カンジャkaかki")
    await press(cdp, "Lang1", "KanaMode")
    await strokes(cdp, romaji("ki"))
    await press(cdp, "Enter", "Enter")
    await expect(sample_app, ime, "患者カンジャkaかkiき")

    # The viewer's own IME composing reports "Process": the jp106 host's key at Backquote's
    # position is 半角/全角 all the same, and switches Japanese input off.
    await press(cdp, "Backquote", "Process")
    await strokes(cdp, romaji("ku"))
    await expect(sample_app, ime, "患者カンジャkaかkiきku")

"""Physical key presses as a given keyboard layout makes Chromium report them.

CDP ``Input.dispatchKeyEvent`` takes ``code`` (the physical key) and ``key`` (what the
layout and modifiers made of it) separately, which is exactly what differs between a JIS
and a US keyboard: Shift+Digit2 is ``"`` on one and ``@`` on the other. The viewer page
sees real KeyboardEvents with those values.
"""

from __future__ import annotations

from playwright.async_api import CDPSession

# CDP's modifier bits (Input.dispatchKeyEvent).
SHIFT = 8

# A physical key stroke: (code, key, with Shift held).
Stroke = tuple[str, str, bool]


async def key_event(cdp: CDPSession, down: bool, code: str, key: str, modifiers: int = 0) -> None:
    """One keydown or keyup; a one-character key also carries its text, as a real key does."""
    params: dict[str, object] = {
        "type": "keyDown" if down else "keyUp",
        "code": code,
        "key": key,
        "modifiers": modifiers,
    }
    if down and len(key) == 1:
        params["text"] = key
        params["unmodifiedText"] = key
    await cdp.send("Input.dispatchKeyEvent", params)


async def press(cdp: CDPSession, code: str, key: str, shift: bool = False) -> None:
    """Press and release one key, with the left Shift held around it when ``shift``."""
    modifiers = SHIFT if shift else 0
    if shift:
        await key_event(cdp, True, "ShiftLeft", "Shift", SHIFT)
    await key_event(cdp, True, code, key, modifiers)
    await key_event(cdp, False, code, key, modifiers)
    if shift:
        await key_event(cdp, False, "ShiftLeft", "Shift", 0)


async def strokes(cdp: CDPSession, keys: list[Stroke]) -> None:
    for code, key, shift in keys:
        await press(cdp, code, key, shift)


def romaji(word: str) -> list[Stroke]:
    """Lower-case letters as any Latin layout types them (same position on JIS and US)."""
    return [(f"Key{char.upper()}", char, False) for char in word]

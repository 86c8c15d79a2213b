"""The INPUT structures the Windows injector sends (host_agent.platform.windows.injector),
checked field by field through a fake SendInput. Windows' reaction to them is not."""

from __future__ import annotations

import threading

import pytest

from host_agent.input.events import Key, PointerButton, PointerMove, ReleaseAll, Text, Wheel
from host_agent.platform.windows.desktop import InputDesktop
from host_agent.platform.windows.errors import DpiUnaware
from host_agent.platform.windows.injector import WindowsInjector, check_layout, normalize
from host_agent.platform.windows.win32 import Box
from tests.host_agent.windows.fakes import FakeDesktopApi, FakeInputApi

pytestmark = pytest.mark.unit

TAG = 0x4D4D5249  # MAMORI_INPUT_TAG
SCAN, EXT, UP, UNICODE = 0x8, 0x1, 0x2, 0x4
MOVE, ABS, VDESK = 0x1, 0x8000, 0x4000
LEFTDOWN, LEFTUP, RIGHTDOWN, XDOWN, XUP = 0x2, 0x4, 0x8, 0x80, 0x100
WHEEL, HWHEEL = 0x800, 0x1000

# Two monitors with different scale factors, in the physical pixels a Per-Monitor-V2
# process sees: a 4K primary at 150 % and a full-HD one at 100 % to its left, lower down.
PRIMARY = Box(0, 0, 3840, 2160)
SECONDARY = Box(-1920, 540, 0, 1620)
VIRTUAL = Box(-1920, 0, 3840, 2160)


def key(scan: int, flags: int, vk: int = 0) -> dict[str, int]:
    return {"type": 1, "wVk": vk, "wScan": scan, "dwFlags": flags, "time": 0, "dwExtraInfo": TAG}


def mouse(dx: int, dy: int, flags: int, data: int = 0) -> dict[str, int]:
    return {
        "type": 0, "dx": dx, "dy": dy, "mouseData": data, "dwFlags": flags, "time": 0,
        "dwExtraInfo": TAG,
    }  # fmt: skip


@pytest.fixture
def api() -> FakeInputApi:
    return FakeInputApi(VIRTUAL, [PRIMARY, SECONDARY])


@pytest.fixture
def injector(api: FakeInputApi) -> WindowsInjector:
    return WindowsInjector(api)


def press(injector: WindowsInjector, code: str, key_value: str = "Unidentified") -> None:
    injector.inject(Key(code, key_value, pressed=True))
    injector.inject(Key(code, key_value, pressed=False))


def test_jis_ime_keys_are_scan_codes(injector: WindowsInjector, api: FakeInputApi) -> None:
    """半角/全角, romaji, 変換, 無変換, かな, ¥ and Shift+ろ reach SendInput as set-1 scan codes
    with KEYEVENTF_SCANCODE, so the host's IME sees them as key presses."""
    press(injector, "Backquote", "Zenkaku")
    press(injector, "KeyK", "k")
    press(injector, "KeyA", "a")
    press(injector, "Convert", "Convert")
    press(injector, "NonConvert", "NonConvert")
    press(injector, "KanaMode", "KanaMode")
    press(injector, "IntlYen", "¥")
    injector.inject(Key("ShiftLeft", "Shift", pressed=True))
    press(injector, "IntlRo", "_")
    injector.inject(Key("ShiftLeft", "Shift", pressed=False))
    assert api.sent == [
        key(0x29, SCAN), key(0x29, SCAN | UP),
        key(0x25, SCAN), key(0x25, SCAN | UP),
        key(0x1E, SCAN), key(0x1E, SCAN | UP),
        key(0x79, SCAN), key(0x79, SCAN | UP),
        key(0x7B, SCAN), key(0x7B, SCAN | UP),
        key(0x70, SCAN), key(0x70, SCAN | UP),
        key(0x7D, SCAN), key(0x7D, SCAN | UP),
        key(0x2A, SCAN),
        key(0x73, SCAN), key(0x73, SCAN | UP),
        key(0x2A, SCAN | UP),
    ]  # fmt: skip


def test_modifiers_and_e0_keys(injector: WindowsInjector, api: FakeInputApi) -> None:
    """Right Ctrl, Shift and an arrow: the E0 keys carry KEYEVENTF_EXTENDEDKEY; Mac JIS
    かな/英数 and the Windows key too."""
    injector.inject(Key("ControlRight", "Control", pressed=True))
    injector.inject(Key("ShiftRight", "Shift", pressed=True))
    press(injector, "ArrowLeft", "ArrowLeft")
    injector.inject(Key("ShiftRight", "Shift", pressed=False))
    injector.inject(Key("ControlRight", "Control", pressed=False))
    press(injector, "Lang1", "KanaMode")
    press(injector, "Lang2", "Eisu")
    press(injector, "MetaLeft", "Meta")
    press(injector, "AltRight", "Alt")
    assert api.sent == [
        key(0x1D, SCAN | EXT),
        key(0x36, SCAN),
        key(0x4B, SCAN | EXT), key(0x4B, SCAN | EXT | UP),
        key(0x36, SCAN | UP),
        key(0x1D, SCAN | EXT | UP),
        key(0x72, SCAN), key(0x72, SCAN | UP),
        key(0x71, SCAN), key(0x71, SCAN | UP),
        key(0x5B, SCAN | EXT), key(0x5B, SCAN | EXT | UP),
        key(0x38, SCAN | EXT), key(0x38, SCAN | EXT | UP),
    ]  # fmt: skip


def test_pause_and_numlock_by_virtual_key(injector: WindowsInjector, api: FakeInputApi) -> None:
    """Pause and NumLock go by VK (no KEYEVENTF_SCANCODE), with their scan code beside."""
    press(injector, "Pause", "Pause")
    press(injector, "NumLock", "NumLock")
    assert api.sent == [
        key(0x45, 0, vk=0x13), key(0x45, UP, vk=0x13),
        key(0x45, EXT, vk=0x90), key(0x45, EXT | UP, vk=0x90),
    ]  # fmt: skip


def test_held_key_repeats_and_one_release(injector: WindowsInjector, api: FakeInputApi) -> None:
    """The browser's repeats are more key-downs; a release without a press is dropped."""
    for _ in range(3):
        injector.inject(Key("KeyA", "a", pressed=True))
    injector.inject(Key("KeyA", "a", pressed=False))
    injector.inject(Key("KeyA", "a", pressed=False))
    injector.inject(Key("KeyB", "b", pressed=False))
    assert api.sent == [key(0x1E, SCAN)] * 3 + [key(0x1E, SCAN | UP)]


def test_text_without_a_code_is_unicode(injector: WindowsInjector, api: FakeInputApi) -> None:
    """An on-screen keyboard's character (no code) is KEYEVENTF_UNICODE, one down and up
    per UTF-16 unit (a surrogate pair for 𠮷); its release sends nothing."""
    injector.inject(Key("", "あ", pressed=True))
    injector.inject(Key("", "あ", pressed=False))
    injector.inject(Key("", "𠮷", pressed=True))
    assert api.sent == [
        key(0x3042, UNICODE), key(0x3042, UNICODE | UP),
        key(0xD842, UNICODE), key(0xD842, UNICODE | UP),
        key(0xDFB7, UNICODE), key(0xDFB7, UNICODE | UP),
    ]  # fmt: skip


def test_viewer_text_is_one_unicode_send_input(
    injector: WindowsInjector, api: FakeInputApi
) -> None:
    """A `text` message is typed with KEYEVENTF_UNICODE, down and up per UTF-16 unit, in
    one SendInput call (nothing else lands between its characters), and leaves nothing
    held for release_all."""
    injector.inject(Text("患者A𠮷"))
    assert len(api.calls) == 1
    assert api.sent == [
        key(0x60A3, UNICODE), key(0x60A3, UNICODE | UP),
        key(0x8005, UNICODE), key(0x8005, UNICODE | UP),
        key(0x0041, UNICODE), key(0x0041, UNICODE | UP),
        key(0xD842, UNICODE), key(0xD842, UNICODE | UP),
        key(0xDFB7, UNICODE), key(0xDFB7, UNICODE | UP),
    ]  # fmt: skip
    injector.release_all()
    assert len(api.calls) == 1


def test_ctrl_alt_delete_is_the_secure_attention_sequence(
    injector: WindowsInjector, api: FakeInputApi
) -> None:
    """Delete under Ctrl+Alt calls SendSAS instead of sending Delete; its release is
    swallowed; Delete alone is a key."""
    injector.inject(Key("ControlLeft", "Control", pressed=True))
    injector.inject(Key("AltLeft", "Alt", pressed=True))
    press(injector, "Delete", "Delete")
    injector.inject(Key("AltLeft", "Alt", pressed=False))
    injector.inject(Key("ControlLeft", "Control", pressed=False))
    press(injector, "Delete", "Delete")
    assert api.sas == 1
    assert api.sent == [
        key(0x1D, SCAN), key(0x38, SCAN),
        key(0x38, SCAN | UP), key(0x1D, SCAN | UP),
        key(0x53, SCAN | EXT), key(0x53, SCAN | EXT | UP),
    ]  # fmt: skip


def test_sas_refused_is_logged_not_raised(injector: WindowsInjector, api: FakeInputApi) -> None:
    """Without LocalSystem or the policy SendSAS fails: the session goes on."""
    api.sas_error = 5
    injector.inject(Key("ControlLeft", "Control", pressed=True))
    injector.inject(Key("AltRight", "Alt", pressed=True))
    injector.inject(Key("Delete", "Delete", pressed=True))
    assert api.sas == 0
    assert len(api.sent) == 2


@pytest.mark.parametrize(
    ("x", "y", "dx", "dy"),
    [
        (0, 0, 21846, 0),  # the primary's top-left
        (3839, 2159, 65525, 65506),  # the primary's bottom-right
        (1920, 1080, 43691, 32768),  # the primary's centre
        (-1920, 540, 0, 16384),  # the secondary's top-left (the virtual desktop's left edge)
        (-1, 1619, 21834, 49122),  # the secondary's bottom-right
    ],
)
def test_pointer_over_two_monitors_with_mixed_dpi(
    injector: WindowsInjector, api: FakeInputApi, x: int, y: int, dx: int, dy: int
) -> None:
    """A move is one MOUSEEVENTF_MOVE|ABSOLUTE|VIRTUALDESK normalised over the whole
    virtual desktop, on either monitor."""
    injector.inject(PointerMove(x, y))
    assert api.sent == [mouse(dx, dy, MOVE | ABS | VDESK)]
    # And Windows' n * width / 65536 brings it back to the very pixel.
    assert VIRTUAL.left + dx * VIRTUAL.width // 65536 == x
    assert VIRTUAL.top + dy * VIRTUAL.height // 65536 == y


def test_every_edge_pixel_maps_back_exactly() -> None:
    """For each monitor edge pixel, truncating and rounding inverses both give it back."""
    for x in [*range(-1920, -1900), *range(-20, 20), *range(3820, 3840)]:
        nx, _ = normalize(x, 0, VIRTUAL)
        assert VIRTUAL.left + nx * VIRTUAL.width // 65536 == x
        assert VIRTUAL.left + round(nx * VIRTUAL.width / 65536) == x
    for y in [*range(0, 20), *range(530, 550), *range(1610, 1630), *range(2140, 2160)]:
        _, ny = normalize(0, y, VIRTUAL)
        assert ny * VIRTUAL.height // 65536 == y
        assert round(ny * VIRTUAL.height / 65536) == y


def test_buttons_wheel_and_release(injector: WindowsInjector, api: FakeInputApi) -> None:
    """Buttons carry the position and their flag (X buttons their number in mouseData);
    the wheel's notches become ±120 per notch, vertical inverted, horizontal not;
    release_all lets go of held keys (last first) and buttons."""
    injector.inject(PointerButton(0, True, 0, 0))
    injector.inject(PointerButton(0, False, 0, 0))
    injector.inject(PointerButton(2, True, 0, 0))
    injector.inject(PointerButton(3, True, 0, 0))
    injector.inject(PointerButton(4, False, 0, 0))  # never pressed: a move only
    injector.inject(Wheel(-1, 2, 0, 0))
    injector.inject(Key("ShiftLeft", "Shift", pressed=True))
    injector.inject(Key("KeyA", "A", pressed=True))
    injector.inject(ReleaseAll())
    injector.inject(ReleaseAll())  # nothing held any more: nothing sent
    here = (21846, 0)
    assert api.sent == [
        mouse(*here, MOVE | ABS | VDESK | LEFTDOWN),
        mouse(*here, MOVE | ABS | VDESK | LEFTUP),
        mouse(*here, MOVE | ABS | VDESK | RIGHTDOWN),
        mouse(*here, MOVE | ABS | VDESK | XDOWN, data=1),
        mouse(*here, MOVE | ABS | VDESK),
        mouse(*here, MOVE | ABS | VDESK),
        mouse(0, 0, WHEEL, data=(-240) & 0xFFFFFFFF),
        mouse(0, 0, HWHEEL, data=(-120) & 0xFFFFFFFF),
        key(0x2A, SCAN),
        key(0x1E, SCAN),
        key(0x1E, SCAN | UP),
        key(0x2A, SCAN | UP),
        mouse(0, 0, 0x10),  # RIGHTUP
        mouse(0, 0, XUP, data=1),
    ]


def test_dpi_virtualised_layout_is_refused() -> None:
    """If GetSystemMetrics answers in scaled pixels (not Per-Monitor-V2 aware) while the
    monitors are physical, the injector refuses rather than click in the wrong place."""
    scaled = Box(-1920, 0, 2560, 1440)
    with pytest.raises(DpiUnaware):
        WindowsInjector(FakeInputApi(scaled, [PRIMARY, SECONDARY]))
    with pytest.raises(DpiUnaware):
        check_layout(VIRTUAL, [])


def test_a_monitor_unplugged_is_rechecked(injector: WindowsInjector, api: FakeInputApi) -> None:
    """When the virtual desktop changes the layout is checked again and used."""
    api.screen = PRIMARY
    api.monitor_boxes = [PRIMARY]
    injector.inject(PointerMove(0, 0))
    assert api.sent == [mouse(0, 0, MOVE | ABS | VDESK)]


def test_desktop_switch_releases_then_attaches(api: FakeInputApi) -> None:
    """When the input desktop becomes Winlogon (UAC, lock) the held keys are released first,
    then the thread attaches to the new desktop before sending more."""
    desktops = FakeDesktopApi("Default", "Default", "Winlogon")
    clock = [0.0]
    follower = InputDesktop(desktops, clock=lambda: clock[0], poll_s=0.1)
    injector = WindowsInjector(api, follower)
    injector.inject(Key("ShiftLeft", "Shift", pressed=True))
    assert desktops.attaches == 1
    clock[0] = 0.05
    injector.inject(Key("KeyA", "A", pressed=True))  # not polled again yet
    clock[0] = 0.2
    injector.inject(Key("KeyB", "B", pressed=True))  # polled: Default, no change
    clock[0] = 0.4
    injector.inject(Key("KeyC", "C", pressed=True))  # polled: Winlogon
    assert desktops.attaches == 2
    assert api.sent == [
        key(0x2A, SCAN), key(0x1E, SCAN), key(0x30, SCAN),
        key(0x30, SCAN | UP), key(0x1E, SCAN | UP), key(0x2A, SCAN | UP),
        key(0x2E, SCAN),
    ]  # fmt: skip


def test_a_call_on_another_thread_attaches_that_thread(api: FakeInputApi) -> None:
    """SetThreadDesktop is per thread: when the injection queue's worker thread changes,
    the new thread is attached to the input desktop before it sends."""
    desktops = FakeDesktopApi("Default")
    follower = InputDesktop(desktops, clock=lambda: 0.0, poll_s=0.1)
    injector = WindowsInjector(api, follower)
    injector.inject(Key("KeyA", "a", pressed=True))
    injector.inject(Key("KeyA", "a", pressed=False))
    assert desktops.attaches == 1
    worker = threading.Thread(target=injector.inject, args=(Text("患"),))
    worker.start()
    worker.join(timeout=10)
    assert desktops.attaches == 2
    assert api.sent[-2:] == [key(0x60A3, UNICODE), key(0x60A3, UNICODE | UP)]


def test_refused_send_follows_the_desktop_and_retries(api: FakeInputApi) -> None:
    """SendInput inserting nothing (the desktop switched under us) forces a poll, a
    re-attach and one retry of the rest; what still fails is counted, not raised."""
    desktops = FakeDesktopApi("Default")
    injector = WindowsInjector(api, InputDesktop(desktops))
    api.accept = [0, 1]
    injector.inject(PointerMove(0, 0))
    assert desktops.attaches == 2
    assert len(api.calls) == 2
    assert injector.dropped == 0
    api.accept = [0, 0]
    injector.inject(Wheel(0, 1, 0, 0))
    assert injector.dropped == 2


def test_switch_seen_by_the_capture_thread_still_releases(api: FakeInputApi) -> None:
    """The follower is shared with the capture thread: if that thread saw the switch to
    Winlogon first, the injector still releases its held keys before attaching again."""
    desktops = FakeDesktopApi("Default", "Winlogon")
    follower = InputDesktop(desktops)
    injector = WindowsInjector(api, follower)
    injector.inject(Key("ControlLeft", "Control", pressed=True))
    assert follower.poll(force=True) is not None  # the capture thread's poll
    injector.inject(Key("KeyA", "a", pressed=True))
    assert api.sent == [key(0x1D, SCAN), key(0x1D, SCAN | UP), key(0x1E, SCAN)]
    assert desktops.attaches == 2

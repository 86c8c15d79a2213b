"""X11 input injection through the XTEST extension (python-xlib).

Keys: the keysym from ``keysyms.key_target`` is looked up in the server's keyboard mapping
(``keymap.Keymap``), preferring the key at the viewer's position when it types that keysym
too (JIS ¥ and ろ are different keys with the same backslash). A *physical* target (the
viewer did not know the character: its IME was composing) is pressed at its position
instead, so that the host's layout interprets it (``keymap.physical_keycode``; on a JIS
host the Backquote position is 半角/全角).

- *Shift level.* An exact character (``@`` typed on a JIS viewer) must arrive as that
  character on a US host, where it is Shift+2. When the level the key needs differs from the
  one the current Shift/CapsLock state gives, the press is wrapped in a temporary Shift
  press or release, as x11vnc does. Keypad digits, whose level only NumLock selects, get a
  spare keycode instead (below). Named keys are pressed as they are, so that the viewer's
  held modifiers apply (Shift+Tab, Ctrl+Shift+ArrowLeft).
- *Missing keysyms.* Keysyms with no key in the map (Zenkaku_Hankaku and kana or kanji on
  Xvfb's default map) are bound to a spare keycode (one with no keysyms) with
  ``ChangeKeyboardMapping``. Bindings are cached; when the spares run out, the least recently
  used one that is not held is rebound. ``close()`` unbinds them again, so that repeated
  agent restarts do not use the spares up.

*Text.* A ``Text`` event (the viewer's own composed text) is typed character by character
as exact key presses: characters on the host's keymap on their key (with Shift as needed),
the rest (kanji, kana, emoji) on a spare keycode bound to their Unicode keysym for the
moment, as above; nothing stays pressed afterwards.

*Autorepeat.* The browser repeats a held key itself (keydown with ``repeat``), so the
server's own autorepeat is switched off for each key while we hold it: otherwise a release
delayed by the network would repeat the key on the host (a "1" in a dose becoming "1111").

Held keys (by ``KeyboardEvent.code``, since the ``key`` of a release can differ from its
press: Shift released first turns "@" into "2") and held buttons are tracked so that
``release_all()`` can let go of everything when the viewer loses focus or the session ends.

Thread-safety: an ``X11Injector`` owns one python-xlib connection; a lock serialises its
public calls, because the session's injection queue calls it from a worker thread while
the agent may close it from its own (two threads in one Xlib connection can each read the
other's reply and wait forever). Calls block for at most a few local X round
trips, plus ``_BIND_SETTLE_S`` (10 ms) for each character that needs a new binding and up to
``_REBIND_SETTLE_S`` when a burst of such characters outruns the spare keycodes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Final

from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import xtest

from host_agent.errors import InjectionError
from host_agent.input.events import (
    InputEvent,
    Key,
    PointerButton,
    PointerMove,
    ReleaseAll,
    Text,
    Wheel,
)
from host_agent.input.keysyms import is_keypad, key_target
from host_agent.platform.x11.keymap import (
    Keymap,
    is_alphabetic,
    physical_keycode,
    uses_evdev_keycodes,
)

log = logging.getLogger(__name__)

# MouseEvent.button -> X button: left, middle, right, back, forward.
X_BUTTONS: Final[dict[int, int]] = {0: 1, 1: 2, 2: 3, 3: 8, 4: 9}
# X reports the wheel as buttons: one press/release per notch.
_WHEEL_UP, _WHEEL_DOWN, _WHEEL_LEFT, _WHEEL_RIGHT = 4, 5, 6, 7
_BUTTON_MASKS: Final = (
    (1, X.Button1Mask),
    (2, X.Button2Mask),
    (3, X.Button3Mask),
    (4, X.Button4Mask),
    (5, X.Button5Mask),
)
# Binding a keysym to a spare keycode races with the focused app, which translates a keycode
# with the mapping it knows when it *processes* the key event. Two pauses keep it in step:
# - after a new binding, before the press, so the app handles each MappingNotify alone:
#   when several pile up, Xlib/Tk drop or garble bindings (measured with Tk on Xvfb: 4 of
#   15 bursts of 40 kana lost a character without a pause, none with 5 ms);
# - before rebinding a spare that was just used, so the app has read the old press first
#   (otherwise it would type the new keysym for it).
# They only cost time for characters absent from the host's keymap (kanji, kana, ...).
_BIND_SETTLE_S: Final = 0.01
_REBIND_SETTLE_S: Final = 0.05


class X11Injector:
    """XTEST injector for one X display. See the module docstring."""

    def __init__(self, display_name: str | None = None) -> None:
        """Connect to the display and read its keyboard mapping.

        Raises:
            InjectionError: the display cannot be opened or lacks XTEST.
        """
        try:
            self._display: Any = xdisplay.Display(display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise InjectionError(f"cannot open X display {display_name!r}: {exc}") from exc
        if not self._display.has_extension("XTEST"):
            self._display.close()
            raise InjectionError(f"X display {display_name!r} lacks the XTEST extension")
        self._root: Any = self._display.screen().root
        self._held_keys: dict[str, int] = {}
        self._held_buttons: set[int] = set()
        # keycode -> keysym we bound there (None: still free); least recently used first.
        self._spares: OrderedDict[int, int | None] = OrderedDict()
        self._last_used: dict[int, float] = {}
        # Keycodes whose server autorepeat we switched off while holding them.
        self._repeat_off: set[int] = set()
        self._closed = False
        self._lock = threading.RLock()
        self._load_mapping()
        for keycode in self._keymap.unbound():
            self._spares[keycode] = None

    # -- Injector protocol ----------------------------------------------------------------

    def inject(self, event: InputEvent) -> None:
        """Inject one validated event and flush it to the server.

        Raises:
            InjectionError: the X connection is gone.
        """
        with self._lock:
            self._inject(event)

    def _inject(self, event: InputEvent) -> None:
        if self._closed:
            raise InjectionError("the injector is closed")
        try:
            if isinstance(event, PointerMove):
                self._fake(X.MotionNotify, x=event.x, y=event.y)
            elif isinstance(event, PointerButton):
                self._button(event)
            elif isinstance(event, Wheel):
                self._wheel(event)
            elif isinstance(event, Key):
                self._key(event)
            elif isinstance(event, ReleaseAll):
                self._release_all()
            elif isinstance(event, Text):
                self._text(event)
            self._display.flush()
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise InjectionError(f"lost the X display: {exc}") from exc

    def release_all(self) -> None:
        """Release every key and button held down through XTEST.

        Raises:
            InjectionError: the X connection is gone.
        """
        self.inject(ReleaseAll())

    def close(self) -> None:
        """Release everything, unbind the spare keycodes we bound, and disconnect."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._release_all()
            for keycode, keysym in self._spares.items():
                if keysym is not None:
                    self._display.change_keyboard_mapping(
                        keycode, [(X.NoSymbol, X.NoSymbol)], onerror=xerror.CatchError()
                    )
            self._display.sync()
        except (xerror.ConnectionClosedError, OSError):
            log.debug("X display already gone while closing", exc_info=True)
        finally:
            try:
                self._display.close()
            except (xerror.ConnectionClosedError, OSError):
                log.debug("X display already gone; nothing to disconnect")

    def __enter__(self) -> X11Injector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- pointer --------------------------------------------------------------------------

    def _button(self, event: PointerButton) -> None:
        button = X_BUTTONS.get(event.button)
        if button is None:
            return
        self._fake(X.MotionNotify, x=event.x, y=event.y)
        if event.pressed:
            self._held_buttons.add(button)
            self._fake(X.ButtonPress, button)
        elif button in self._held_buttons:
            # A release without its press (it happened before the session, or after a
            # release_all) is dropped rather than sent to whatever is under the pointer.
            self._held_buttons.discard(button)
            self._fake(X.ButtonRelease, button)

    def _wheel(self, event: Wheel) -> None:
        self._fake(X.MotionNotify, x=event.x, y=event.y)
        # WheelEvent.deltaY > 0 scrolls down, deltaX > 0 scrolls right.
        for delta, negative, positive in (
            (event.dy, _WHEEL_UP, _WHEEL_DOWN),
            (event.dx, _WHEEL_LEFT, _WHEEL_RIGHT),
        ):
            button = positive if delta > 0 else negative
            for _ in range(abs(delta)):
                self._fake(X.ButtonPress, button)
                self._fake(X.ButtonRelease, button)

    # -- keys -----------------------------------------------------------------------------

    def _key(self, event: Key) -> None:
        ident = event.code or f"key:{event.key}"
        if not event.pressed:
            held = self._held_keys.pop(ident, None)
            if held is not None:
                self._fake(X.KeyRelease, held)
                if held not in self._held_keys.values():
                    self._restore_repeat(held)
            return
        target = key_target(event.code, event.key)
        if target is None:
            log.debug("no keysym for key event code=%r key=%r", event.code, event.key)
            return
        found = None
        if target.physical:
            found = self._physical_key(event.code)
        elif target.exact:
            found = self._same_position(event.code, target.keysym)
        if found is None:
            found = self._keycode_for(target.keysym)
        if found is None:
            log.warning("no keycode available for keysym %#x", target.keysym)
            return
        keycode, level = found
        shift_change = 0
        if target.exact:
            keycode, shift_change = self._plan_exact(target.keysym, keycode, level)
        previous = self._held_keys.get(ident)
        if previous is not None and previous != keycode:
            self._fake(X.KeyRelease, previous)
            self._restore_repeat(previous)
        # Recorded before pressing, so release_all covers a failure half-way.
        self._held_keys[ident] = keycode
        self._suppress_repeat(keycode)
        self._press(keycode, shift_change)

    def _text(self, event: Text) -> None:
        for char in event.text:
            # No KeyboardEvent.code: key_target maps the character itself (exact level).
            self._key(Key(code="", key=char, pressed=True))
            self._key(Key(code="", key=char, pressed=False))

    def _plan_exact(self, keysym: int, keycode: int, level: int) -> tuple[int, int]:
        """Choose how to press ``keycode`` so that it types ``keysym`` in the current state.

        Returns:
            (keycode to press, shift change): 0 press as-is, 1 add Shift for this press,
            -1 lift the held Shift for this press.
        """
        lower, upper = self._keymap.levels(keycode)
        if upper in (X.NoSymbol, lower):
            # Shift does not change what this key types (space, spare bindings).
            return keycode, 0
        state = int(self._root.query_pointer().mask)
        shift_down = bool(state & X.ShiftMask)
        if is_keypad(lower) or is_keypad(upper):
            # xkeyboard-config's KEYPAD type: NumLock alone selects the digits and Shift only
            # cancels NumLock, so with NumLock off no Shift reaches KP_1. A spare keycode
            # bound to the keysym types it in every state without touching the lock.
            numlock = bool(self._numlock_mask and state & self._numlock_mask)
            if (numlock and not shift_down) == (level == 1):
                return keycode, 0
            spare = self._bind_spare(keysym)
            return (keycode if spare is None else spare), 0
        shifted = shift_down
        # XKB's ALPHABETIC key type: CapsLock inverts the Shift level of letters.
        if state & X.LockMask and is_alphabetic(lower, upper):
            shifted = not shifted
        if shifted == (level == 1):
            return keycode, 0
        return keycode, (-1 if shift_down else 1)

    def _press(self, keycode: int, shift_change: int) -> None:
        if shift_change > 0 and self._shift_keycodes:
            shift = self._shift_keycodes[0]
            self._fake(X.KeyPress, shift)
            self._fake(X.KeyPress, keycode)
            self._fake(X.KeyRelease, shift)
        elif shift_change < 0:
            pressed = self._pressed_keycodes()
            down = [kc for kc in self._shift_keycodes if kc in pressed]
            for shift in down:
                self._fake(X.KeyRelease, shift)
            self._fake(X.KeyPress, keycode)
            for shift in down:
                self._fake(X.KeyPress, shift)
        else:
            self._fake(X.KeyPress, keycode)

    def _suppress_repeat(self, keycode: int) -> None:
        if keycode in self._repeat_off:
            return
        repeats = self._display.get_keyboard_control().auto_repeats
        # Left alone when already off (modifiers, or the user's own xset setting).
        if repeats[keycode // 8] & (1 << (keycode % 8)):
            self._display.change_keyboard_control(key=keycode, auto_repeat_mode=X.AutoRepeatModeOff)
            self._repeat_off.add(keycode)

    def _restore_repeat(self, keycode: int) -> None:
        if keycode in self._repeat_off:
            self._repeat_off.discard(keycode)
            self._display.change_keyboard_control(key=keycode, auto_repeat_mode=X.AutoRepeatModeOn)

    def _physical_key(self, code: str) -> tuple[int, int] | None:
        """The host's key at the position ``code`` names, when the server numbers keys as
        evdev does and that key types something in the host's layout."""
        self._drain_events()
        keycode = physical_keycode(code) if self._evdev else None
        # A spare keycode (no key of the host's layout) may hold one of our bindings.
        if keycode is None or keycode in self._spares:
            return None
        if self._keymap.levels(keycode)[0] == X.NoSymbol:
            return None
        return keycode, 0

    def _same_position(self, code: str, keysym: int) -> tuple[int, int] | None:
        """The host's key at the viewer's position when it types ``keysym`` too (level 0 or
        1): with matching layouts every key is then the very key pressed, so the host's IME
        tells keys with the same character apart (JIS ¥ and ろ both type a backslash)."""
        found = self._physical_key(code)
        if found is None:
            return None
        lower, upper = self._keymap.levels(found[0])
        if keysym == lower:
            return found[0], 0
        if keysym == upper:
            return found[0], 1
        return None

    def _keycode_for(self, keysym: int) -> tuple[int, int] | None:
        self._drain_events()
        found = self._keymap.find(keysym)
        if found is None:
            keycode = self._bind_spare(keysym)
            return None if keycode is None else (keycode, 0)
        if found[0] in self._spares:
            self._spares.move_to_end(found[0])
            self._last_used[found[0]] = time.monotonic()
        return found

    def _bind_spare(self, keysym: int) -> int | None:
        held = set(self._held_keys.values())
        keycode = next((kc for kc in self._spares if kc not in held), None)
        if keycode is None:
            return None
        # Only waits when more distinct unmapped characters than spares arrive in a burst
        # (a long kanji string from the viewer's IME): see _REBIND_SETTLE_S.
        wait = self._last_used.get(keycode, 0.0) + _REBIND_SETTLE_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        catcher = xerror.CatchError()
        self._display.change_keyboard_mapping(keycode, [(keysym, keysym)], onerror=catcher)
        self._display.sync()
        if catcher.get_error() is not None:
            log.warning("cannot bind keysym %#x to keycode %d", keysym, keycode)
            del self._spares[keycode]
            return None
        self._keymap.bind(keycode, keysym)
        self._spares[keycode] = keysym
        self._spares.move_to_end(keycode)
        time.sleep(_BIND_SETTLE_S)
        self._last_used[keycode] = time.monotonic()
        return keycode

    def _release_all(self) -> None:
        for keycode in set(self._held_keys.values()):
            self._fake(X.KeyRelease, keycode)
        self._held_keys.clear()
        for keycode in list(self._repeat_off):
            self._restore_repeat(keycode)
        for button in self._held_buttons:
            self._fake(X.ButtonRelease, button)
        self._held_buttons.clear()
        # Then whatever the server still sees down (a Shift left by an error half-way
        # through a wrap). The server ignores an XTEST release of a key that only a
        # physical keyboard holds, so a local user's keys are not touched.
        for keycode in self._pressed_keycodes():
            self._fake(X.KeyRelease, keycode)
        mask = int(self._root.query_pointer().mask)
        for button, button_mask in _BUTTON_MASKS:
            if mask & button_mask:
                self._fake(X.ButtonRelease, button)

    # -- server state ---------------------------------------------------------------------

    def _fake(self, event_type: int, detail: int = 0, x: int = 0, y: int = 0) -> None:
        xtest.fake_input(self._display, event_type, detail, x=x, y=y)

    def _pressed_keycodes(self) -> set[int]:
        keymap = self._display.query_keymap()
        return {
            byte * 8 + bit
            for byte, bits in enumerate(keymap)
            for bit in range(8)
            if bits & (1 << bit)
        }

    def _drain_events(self) -> None:
        # We select no events; only MappingNotify (sent to every client) arrives. It means
        # someone (setxkbmap, an IME, or our own binding) changed the mapping.
        changed = False
        while self._display.pending_events():
            event = self._display.next_event()
            if event.type == X.MappingNotify and event.request != X.MappingPointer:
                changed = True
        if changed:
            self._load_mapping()
            self._reconcile_spares()

    def _load_mapping(self) -> None:
        info = self._display.display.info
        first, last = int(info.min_keycode), int(info.max_keycode)
        rows = self._display.get_keyboard_mapping(first, last - first + 1)
        self._keymap = Keymap(first, [tuple(int(ks) for ks in row) for row in rows])
        self._evdev = uses_evdev_keycodes(self._display)
        modifiers = self._display.get_modifier_mapping()
        self._shift_keycodes = [int(kc) for kc in modifiers[X.ShiftMapIndex] if kc]
        # NumLock's modifier bit differs between layouts (usually Mod2).
        self._numlock_mask = 0
        for index, keycodes in enumerate(modifiers):
            if any(kc and XK.XK_Num_Lock in self._keymap.levels(int(kc)) for kc in keycodes):
                self._numlock_mask = 1 << index

    def _reconcile_spares(self) -> None:
        for keycode, keysym in list(self._spares.items()):
            if self._keymap.is_unbound(keycode):
                self._spares[keycode] = None
            elif keysym is None or self._keymap.levels(keycode)[0] != keysym:
                # Someone else bound this keycode: it is no longer ours to reuse.
                del self._spares[keycode]
        for keycode in self._keymap.unbound():
            if keycode not in self._spares:
                self._spares[keycode] = None
                self._spares.move_to_end(keycode, last=False)

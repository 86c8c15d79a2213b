"""What the agent lets through the `input` channel, and what counts as an attack on it.

Three outcomes for every browser -> host message (MHLW.md rows 1 and 3; issue "nothing but
pixels leaves"):

- admitted: a valid keyboard or pointer event, within the rate limit; it is injected;
- dropped: a well-formed input message with a bad value (a pointer one pixel off the
  screen); counted and logged, never injected, the session goes on;
- refused text: a ``text`` message the clinic does not allow (``TextEntry.HOST_IME``), that
  breaks the text rules (``mamori_protocol.text_input``: too long, a control character) or
  comes faster than ``TEXT_RATE_PER_S``; never typed, the session goes on (a soft keyboard
  may well outrun the limit for a moment), and reported for audit once per burst of
  refusals (``RefusalBursts``) so that a paste script fills the audit trail with one row,
  not thousands;
- violation: something that is not input at all (another message type such as ``clipboard``
  or ``file``, binary data, an oversized message), a flood over the rate limit, any
  channel other than ``input``, or any message at all in a view-only session (the grant
  allows the picture only). The channel is closed, the attempt is reported for audit,
  and by default the session ends.

Sans-I/O: the clock is injected, nothing here touches a socket or the display.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from host_agent.input.events import (
    ForeignInput,
    InputEvent,
    OversizedInput,
    RefusedText,
    Text,
    parse_input,
)
from mamori_protocol.text_input import TEXT_BURST, TEXT_RATE_PER_S, TextEntry

INPUT_CHANNEL: Final = "input"
# A fast typist makes ~20 key events a second (down and up), a pointer at 120 Hz makes 120;
# 300/s sustained with a burst of 600 leaves room for both at once and stops a script that
# tries to drive the host faster than a person can.
DEFAULT_RATE_PER_S: Final = 300.0
DEFAULT_BURST: Final = 600.0
# Refused text is reported again only after this long without a refusal.
REFUSAL_QUIET_S: Final = 2.0


class Violation(Enum):
    """Why a session's input channel was refused; the token goes to the audit trail."""

    FOREIGN_CHANNEL = "foreign_channel"
    FOREIGN_MESSAGE = "foreign_message"
    OVERSIZED_MESSAGE = "oversized_message"
    INPUT_FLOOD = "input_flood"
    VIEW_ONLY_INPUT = "view_only_input"


class TextRefusal(Enum):
    """Why a ``text`` message was not typed; the token goes to the audit trail."""

    NOT_ALLOWED = "text_not_allowed"
    INVALID = "text_invalid"
    FLOOD = "text_flood"


class TextNotAdmitted(Exception):
    """A ``text`` message refused without ending the session.

    ``report`` is True for the first refusal of a burst: the caller reports it for audit.
    """

    def __init__(self, refusal: TextRefusal, detail: str, report: bool) -> None:
        super().__init__(f"{refusal.value}: {detail}")
        self.refusal = refusal
        self.detail = detail
        self.report = report


class PolicyViolation(Exception):
    """The browser tried something the channel policy forbids."""

    def __init__(self, violation: Violation, detail: str) -> None:
        super().__init__(f"{violation.value}: {detail}")
        self.violation = violation
        self.detail = detail


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; each message costs one."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    updated: float = 0.0

    def take(self) -> bool:
        now = self.clock()
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class RefusalBursts:
    """Groups refusals into bursts: a refusal starts a new burst when the previous one lies
    more than ``quiet_s`` back."""

    quiet_s: float = REFUSAL_QUIET_S
    clock: Callable[[], float] = time.monotonic
    last: float | None = None

    def starts_burst(self) -> bool:
        now = self.clock()
        new = self.last is None or now - self.last > self.quiet_s
        self.last = now
        return new


def check_channel_label(label: str, already_open: bool) -> None:
    """Only one channel exists in this product, and it is called ``input``.

    Raises:
        PolicyViolation: any other label, or a second ``input`` channel.
    """
    if label != INPUT_CHANNEL:
        raise PolicyViolation(Violation.FOREIGN_CHANNEL, f"channel {label[:40]!r} refused")
    if already_open:
        raise PolicyViolation(Violation.FOREIGN_CHANNEL, "a second input channel refused")


class InputPolicy:
    """Admits, drops or refuses each message of one session's `input` channel."""

    def __init__(
        self,
        width: int,
        height: int,
        rate_per_s: float = DEFAULT_RATE_PER_S,
        burst: float = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
        view_only: bool = False,
        text_entry: TextEntry = TextEntry.HOST_IME,
    ) -> None:
        self.width = width
        self.height = height
        self.view_only = view_only
        self.text_entry = text_entry
        self._bucket = TokenBucket(rate_per_s, burst, clock)
        self._text_bucket = TokenBucket(TEXT_RATE_PER_S, TEXT_BURST, clock)
        self._text_refusals = RefusalBursts(clock=clock)

    def admit(self, raw: str | bytes) -> InputEvent:
        """The event to inject.

        Raises:
            PolicyViolation: a foreign or oversized message, a flood, or anything at all in
                a view-only session.
            TextNotAdmitted: a ``text`` message not to type (see the module docstring).
            InvalidInput: a bad value in a well-formed input message (drop and count).
        """
        if self.view_only:
            # Checked before parsing: in a view-only session even a well-formed key or a
            # "release" is refused, so nothing the page sends can reach the display.
            raise PolicyViolation(Violation.VIEW_ONLY_INPUT, "input in a view-only session")
        if not self._bucket.take():
            raise PolicyViolation(Violation.INPUT_FLOOD, "input rate limit exceeded")
        try:
            event = parse_input(raw, self.width, self.height)
        except OversizedInput as exc:
            raise PolicyViolation(Violation.OVERSIZED_MESSAGE, str(exc)) from exc
        except ForeignInput as exc:
            raise PolicyViolation(Violation.FOREIGN_MESSAGE, str(exc)) from exc
        except RefusedText as exc:
            raise self._text_refused(TextRefusal.INVALID, str(exc)) from exc
        if isinstance(event, Text):
            # The clinic's choice first: with host IME only, no text is typed, however
            # well-formed (fail closed; the viewer does not offer its field then).
            if not self.text_entry.allows_text:
                raise self._text_refused(TextRefusal.NOT_ALLOWED, "viewer text is off")
            if not self._text_bucket.take():
                raise self._text_refused(
                    TextRefusal.FLOOD, f"more than {TEXT_RATE_PER_S:g} text messages a second"
                )
        return event

    def _text_refused(self, refusal: TextRefusal, detail: str) -> TextNotAdmitted:
        return TextNotAdmitted(refusal, detail, report=self._text_refusals.starts_burst())

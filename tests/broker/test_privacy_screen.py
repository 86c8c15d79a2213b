"""The privacy screen's decision at session start: off, outside the clinic's opening hours
(read in the clinic's zone from the broker's clock) or always; never for view-only."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import TypeAdapter, ValidationError

import mamori_protocol as protocol
from broker.access.opening_hours import DEFAULT_HOURS, OpeningWindow, describe, is_open
from broker.access.privacy_screen import PrivacyScreen, blocks_local_input
from broker.access.remote_policy import RemotePolicy
from broker.access.windows import EVERY_DAY, WEEKDAYS
from broker.clock import Clock
from broker.config import PrivacyScreenMode, Settings
from broker.signaling.relay import Relay
from broker.signaling.sessions import ViewerIdentity
from mamori_protocol import Direction
from tests.broker.test_relay import ORG, FakePeer, hello

pytestmark = pytest.mark.unit

TOKYO = "Asia/Tokyo"
JST = dt.timezone(dt.timedelta(hours=9))


def tokyo(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """2026-11-16 is a Monday; ``day`` counts from it. Returned in UTC."""
    return dt.datetime(2026, 11, 16 + day, hour, minute, tzinfo=JST).astimezone(dt.UTC)


def outside(at: dt.datetime, hours: tuple[OpeningWindow, ...] = DEFAULT_HOURS) -> bool:
    return blocks_local_input("outside_hours", hours, TOKYO, at, view_only=False)


@pytest.mark.parametrize(
    ("at", "blocked"),
    [
        (tokyo(0, 8, 59), True),  # Monday, before opening
        (tokyo(0, 9, 0), False),  # opening minute
        (tokyo(2, 12, 30), False),  # Wednesday lunchtime: open (one window 09-18)
        (tokyo(4, 17, 59), False),  # Friday, last minute
        (tokyo(4, 18, 0), True),  # Friday, closing minute
        (tokyo(5, 11, 59), False),  # Saturday morning
        (tokyo(5, 12, 0), True),  # Saturday afternoon
        (tokyo(6, 10, 0), True),  # Sunday
        (tokyo(0, 23, 59), True),  # Monday night
    ],
)
def test_outside_the_default_hours_the_screen_is_on(at: dt.datetime, blocked: bool) -> None:
    assert outside(at) is blocked


def test_the_clinics_zone_decides_not_utc() -> None:
    """Monday 10:00 in Tokyo is Monday 01:00 UTC: open in Tokyo; a clinic in New York at
    the same instant is closed (Sunday 20:00 there). Monday 17:30 UTC is Tuesday 02:30 in
    Tokyo: by UTC's clock the default hours are open, by the clinic's closed."""
    at = tokyo(0, 10, 0)
    assert (at.hour, at.weekday()) == (1, 0)
    assert outside(at) is False
    assert blocks_local_input(
        "outside_hours", DEFAULT_HOURS, "America/New_York", at, view_only=False
    )
    late = dt.datetime(2026, 11, 16, 17, 30, tzinfo=dt.UTC)
    assert outside(late) is True
    assert not blocks_local_input("outside_hours", DEFAULT_HOURS, "UTC", late, view_only=False)


def test_a_window_to_midnight_and_a_whole_day() -> None:
    """24:00 closes at the next midnight (not before); 00:00-24:00 covers every minute."""
    evening = (OpeningWindow(frozenset({0}), 20 * 60, 24 * 60),)
    assert outside(tokyo(0, 23, 59), evening) is False
    assert outside(tokyo(1, 0, 0), evening) is True  # Tuesday 00:00: Monday's window closed
    assert outside(tokyo(0, 19, 59), evening) is True
    whole = (OpeningWindow(frozenset({2}), 0, 24 * 60),)
    for hour, minute in ((0, 0), (11, 59), (12, 0), (23, 59)):
        assert outside(tokyo(2, hour, minute), whole) is False
    assert outside(tokyo(1, 23, 59), whole) is True
    assert outside(tokyo(3, 0, 0), whole) is True


def test_no_hours_means_always_closed() -> None:
    assert is_open((), TOKYO, tokyo(0, 10)) is False
    assert outside(tokyo(0, 10), ()) is True


@pytest.mark.parametrize("at", [tokyo(0, 10), tokyo(6, 3)])
def test_off_and_always_ignore_the_hours(at: dt.datetime) -> None:
    assert blocks_local_input("off", DEFAULT_HOURS, TOKYO, at, view_only=False) is False
    assert blocks_local_input("always", DEFAULT_HOURS, TOKYO, at, view_only=False) is True


@pytest.mark.parametrize("mode", list(PrivacyScreen))
def test_view_only_never_blocks(mode: PrivacyScreen) -> None:
    for at in (tokyo(0, 10), tokyo(6, 3)):
        assert blocks_local_input(mode, DEFAULT_HOURS, TOKYO, at, view_only=True) is False


def test_an_unknown_zone_or_mode_shows_the_screen() -> None:
    assert blocks_local_input("outside_hours", DEFAULT_HOURS, None, tokyo(0, 10), view_only=False)
    assert blocks_local_input(
        "outside_hours", DEFAULT_HOURS, "Mars/Base", tokyo(0, 10), view_only=False
    )
    assert blocks_local_input("sometimes", DEFAULT_HOURS, TOKYO, tokyo(0, 10), view_only=False)


def test_opening_windows_lie_within_one_day() -> None:
    for start, end in ((540, 540), (1080, 540), (-1, 60), (0, 1441)):
        with pytest.raises(ValueError, match="to a later time up to 24:00"):
            OpeningWindow(frozenset({0}), start, end)
    for days in (frozenset(), frozenset({7})):
        with pytest.raises(ValueError, match="one or more days"):
            OpeningWindow(days, 540, 1080)
    assert describe(DEFAULT_HOURS) == "days=0,1,2,3,4 09:00-18:00, days=5 09:00-12:00"
    assert describe((OpeningWindow(EVERY_DAY, 0, 1440),)) == "days=0,1,2,3,4,5,6 00:00-24:00"
    assert DEFAULT_HOURS[0].days == WEEKDAYS


def test_the_broker_default_is_outside_hours_and_old_flags_keep_their_meaning() -> None:
    """MAMORI_BLOCK_LOCAL_INPUT: the three modes, and on/off as they meant before."""
    assert RemotePolicy().privacy_screen == "outside_hours"
    assert Settings.model_fields["block_local_input"].default == "outside_hours"
    read = TypeAdapter(PrivacyScreenMode).validate_python
    for word, mode in (("on", "always"), ("1", "always"), ("off", "off"), ("false", "off")):
        assert read(word) == mode
    for mode in ("outside_hours", "always", "OFF"):
        assert read(mode) == mode.lower()
    with pytest.raises(ValidationError, match="off, outside_hours or always"):
        read("evenings")


class FixedClock(Clock):
    def __init__(self, at: dt.datetime) -> None:
        super().__init__()
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


WHO = ViewerIdentity(7, "inchou", "院長", "さくら診療所", time_zone=TOKYO)


async def started(relay: Relay, *, view_only: bool = False) -> protocol.SessionStart:
    agent_peer = FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    session = await relay.join(ORG, "pc-1", FakePeer(), identity=WHO, view_only=view_only)
    (start,) = [
        m
        for m in agent_peer.messages(Direction.BROKER_TO_AGENT)
        if isinstance(m, protocol.SessionStart)
    ]
    await relay.leave(session, "viewer_left")
    return start


@pytest.mark.parametrize(
    ("at", "view_only", "blocked"),
    [
        (tokyo(0, 22), False, True),  # Monday night in Tokyo (13:00 UTC)
        (tokyo(0, 10), False, False),  # Monday morning in Tokyo (01:00 UTC)
        (tokyo(0, 22), True, False),  # watching only: never
    ],
)
async def test_the_relay_decides_by_its_clock_at_session_start(
    at: dt.datetime, view_only: bool, blocked: bool
) -> None:
    relay = Relay(RemotePolicy(privacy_screen="outside_hours"), clock=FixedClock(at))
    start = await started(relay, view_only=view_only)
    assert start.block_local_input is blocked
    assert start.view_only is view_only


async def test_the_relay_follows_the_clinics_own_hours() -> None:
    """Hours passed with the policy (as policy_for loads them) are the ones read."""
    nights = (OpeningWindow(EVERY_DAY, 20 * 60, 24 * 60),)
    relay = Relay(RemotePolicy(opening_hours=nights), clock=FixedClock(tokyo(0, 22)))
    assert (await started(relay)).block_local_input is False
    relay.clock = FixedClock(tokyo(0, 10))
    assert (await started(relay)).block_local_input is True

"""Whether a remote session shows the privacy screen: the clinic PC's monitors show
「遠隔操作中」 and its own keyboard and mouse are off while someone works on it from outside.

A clinic chooses しない (off), 診療時間外のみ (outside its opening hours) or 常に (always).
The broker decides once, when the session starts, by its clock in the clinic's zone, and
tells the agent a plain yes or no (``session_start.block_local_input``): a session that runs
on into opening hours keeps the screen it started with (taking the PC away mid-session, or
handing it back, would surprise both ends).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum

from broker.access.opening_hours import OpeningWindow, is_open


class PrivacyScreen(StrEnum):
    OFF = "off"
    OUTSIDE_HOURS = "outside_hours"
    ALWAYS = "always"


def blocks_local_input(
    mode: str,
    hours: Sequence[OpeningWindow],
    zone: str | None,
    now: dt.datetime,
    *,
    view_only: bool,
) -> bool:
    """Whether a session starting at ``now`` gets the privacy screen.

    Someone who only watches never takes the PC from the person in front of it. An unknown
    mode or zone shows the screen (the protective side: the room sees a notice, nothing
    of the chart).
    """
    if view_only or mode == PrivacyScreen.OFF:
        return False
    if mode != PrivacyScreen.OUTSIDE_HOURS or zone is None:
        return True
    try:
        return not is_open(hours, zone, now)
    except (ValueError, KeyError):  # a zone name zoneinfo cannot load
        return True

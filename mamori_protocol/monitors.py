"""The host's monitors on the `input` channel: the agent lists them, the viewer picks one.

A clinic PC often has two monitors (the EHR on one, the PACS viewer or the reception
calendar on the other). The agent tells the viewer which monitors there are; the viewer
shows a switcher and sends the choice back; the agent then captures that monitor (or the
bounding box of all of them, "all as one desktop") and maps pointer positions onto it.

Wire form, one compact JSON object per message, closed (every field, no other, in range)::

    host -> viewer   {"t":"monitors","sel":0,"list":[{"id":0,"x":0,"y":0,"w":1920,
                      "h":1080,"p":true},{"id":1,"x":1920,"y":0,"w":1280,"h":1024,"p":false}]}
    viewer -> host   {"t":"monitor","id":1}         id -1: all monitors as one desktop

Geometry is in the host's desktop pixels (X11 root window; Windows' virtual desktop in
physical pixels, whose origin may make ``x``/``y`` negative). Numbers only: the monitors'
names (``DP-1``, ``\\\\.\\DISPLAY2``) stay on the host, since nothing the host sends is ever
shown as text; the viewer labels monitors by number and size. ``web_client/core/monitors.js``
mirrors these rules: keep the two in step.

Sans-I/O and stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

ALL_MONITORS: Final = -1
MAX_MONITORS: Final = 16
# 16 monitors at ~70 bytes each, with room to spare; anything longer is not a list.
MAX_MONITORS_MESSAGE_BYTES: Final = 2048
MAX_CHOICE_BYTES: Final = 64
MAX_SIDE: Final = 16_384  # X11 and Windows both keep a monitor under this
MAX_OFFSET: Final = 32_767  # X11's coordinates are 16-bit signed, Windows' virtual desktop too
_MONITORS_FIELDS: Final = frozenset({"t", "sel", "list"})
_MONITOR_FIELDS: Final = frozenset({"id", "x", "y", "w", "h", "p"})
_CHOICE_FIELDS: Final = frozenset({"t", "id"})


class MonitorMessageError(ValueError):
    """A monitors or monitor-choice message that breaks the schema; the text says how."""


@dataclass(frozen=True, slots=True)
class Monitor:
    """One monitor's area in desktop pixels."""

    id: int
    left: int
    top: int
    width: int
    height: int
    primary: bool = False


def bounding_box(monitors: Sequence[Monitor]) -> Monitor:
    """The smallest area holding every monitor ("all as one desktop"; id ``ALL_MONITORS``).

    Raises:
        MonitorMessageError: no monitors.
    """
    if not monitors:
        raise MonitorMessageError("no monitors")
    left = min(m.left for m in monitors)
    top = min(m.top for m in monitors)
    right = max(m.left + m.width for m in monitors)
    bottom = max(m.top + m.height for m in monitors)
    return Monitor(ALL_MONITORS, left, top, right - left, bottom - top, primary=False)


def region_for(monitors: Sequence[Monitor], choice: int | None) -> Monitor:
    """The area to capture: the monitor chosen, all of them, or (None) the primary.

    Raises:
        MonitorMessageError: no monitors, or no monitor with that id.
    """
    if not monitors:
        raise MonitorMessageError("no monitors")
    if choice == ALL_MONITORS:
        return bounding_box(monitors)
    if choice is None:
        return next((m for m in monitors if m.primary), monitors[0])
    for monitor in monitors:
        if monitor.id == choice:
            return monitor
    raise MonitorMessageError(f"no monitor {choice}")


def monitors_message(monitors: Sequence[Monitor], selected: int) -> str:
    """The host -> viewer list (checked against the schema before it is sent).

    Raises:
        MonitorMessageError: more than ``MAX_MONITORS``, or a value out of range.
    """
    message = json.dumps(
        {
            "t": "monitors",
            "sel": selected,
            "list": [
                {"id": m.id, "x": m.left, "y": m.top, "w": m.width, "h": m.height,
                 "p": m.primary}
                for m in monitors
            ],
        },
        separators=(",", ":"),
    )  # fmt: skip
    parse_monitors_message(message)
    return message


def parse_monitors_message(raw: str | bytes) -> tuple[list[Monitor], int]:
    """Validate a host -> viewer list; returns the monitors and the selected id.

    Raises:
        MonitorMessageError: anything but exactly the form above.
    """
    data = _object(raw, MAX_MONITORS_MESSAGE_BYTES)
    if data.get("t") != "monitors" or set(data) != _MONITORS_FIELDS:
        raise MonitorMessageError(f"monitors: fields must be exactly {sorted(_MONITORS_FIELDS)}")
    items = data["list"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_MONITORS:
        raise MonitorMessageError(f"list must hold 1..{MAX_MONITORS} monitors")
    monitors = [_monitor(item) for item in items]
    ids = [m.id for m in monitors]
    if len(set(ids)) != len(ids):
        raise MonitorMessageError("monitor ids must be unique")
    if sum(m.primary for m in monitors) > 1:
        raise MonitorMessageError("at most one primary monitor")
    selected = _int(data, "sel", ALL_MONITORS, MAX_MONITORS - 1)
    if selected != ALL_MONITORS and selected not in ids:
        raise MonitorMessageError("sel names no listed monitor")
    return monitors, selected


def monitor_choice(monitor_id: int) -> str:
    """The viewer -> host choice (tests' viewers; the browser builds it in monitors.js)."""
    return json.dumps({"t": "monitor", "id": monitor_id}, separators=(",", ":"))


def parse_monitor_choice(raw: str | bytes) -> int | None:
    """The id a viewer -> host message chooses, or None if it is not a choice at all (then
    it is the input policy's to judge).

    Raises:
        MonitorMessageError: a ``monitor`` message with other fields or an id out of range.
    """
    if isinstance(raw, bytes) or len(raw) > MAX_CHOICE_BYTES or '"monitor"' not in raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("t") != "monitor":
        return None
    if set(data) != _CHOICE_FIELDS:
        raise MonitorMessageError(f"monitor: fields must be exactly {sorted(_CHOICE_FIELDS)}")
    return _int(data, "id", ALL_MONITORS, MAX_MONITORS - 1)


def _object(raw: str | bytes, limit: int) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise MonitorMessageError("binary messages are not accepted")
    if len(raw) > limit or len(raw.encode()) > limit:
        raise MonitorMessageError(f"message larger than {limit} bytes")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise MonitorMessageError("message is not JSON") from exc
    if not isinstance(data, dict):
        raise MonitorMessageError("message must be an object")
    return data


def _monitor(item: object) -> Monitor:
    if not isinstance(item, dict) or set(item) != _MONITOR_FIELDS:
        raise MonitorMessageError(f"monitor: fields must be exactly {sorted(_MONITOR_FIELDS)}")
    if not isinstance(item["p"], bool):
        raise MonitorMessageError("p must be true or false")
    return Monitor(
        _int(item, "id", 0, MAX_MONITORS - 1),
        _int(item, "x", -MAX_OFFSET, MAX_OFFSET),
        _int(item, "y", -MAX_OFFSET, MAX_OFFSET),
        _int(item, "w", 1, MAX_SIDE),
        _int(item, "h", 1, MAX_SIDE),
        item["p"],
    )


def _int(data: dict[str, Any], name: str, low: int, high: int) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):  # JSON true is not 1
        raise MonitorMessageError(f"{name} must be an integer")
    if not low <= value <= high:
        raise MonitorMessageError(f"{name} must be {low}..{high}")
    return value

"""The monitors schema (``mamori_protocol.monitors``) and the agent's numbering of them."""

from __future__ import annotations

import json

import pytest

from host_agent.video.monitors import number_monitors
from mamori_protocol.monitors import (
    ALL_MONITORS,
    MAX_MONITORS,
    Monitor,
    MonitorMessageError,
    bounding_box,
    monitor_choice,
    monitors_message,
    parse_monitor_choice,
    parse_monitors_message,
    region_for,
)

pytestmark = pytest.mark.unit

TWO = [Monitor(0, 0, 0, 1920, 1080, True), Monitor(1, 1920, -200, 1280, 1024, False)]


def test_a_list_round_trips_and_is_numbers_only() -> None:
    wire = monitors_message(TWO, 1)
    assert parse_monitors_message(wire) == (TWO, 1)
    assert json.loads(wire) == {
        "t": "monitors",
        "sel": 1,
        "list": [
            {"id": 0, "x": 0, "y": 0, "w": 1920, "h": 1080, "p": True},
            {"id": 1, "x": 1920, "y": -200, "w": 1280, "h": 1024, "p": False},
        ],
    }
    assert parse_monitors_message(monitors_message(TWO, ALL_MONITORS))[1] == ALL_MONITORS


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(name="DP-1"),  # an extra field
        lambda d: d["list"][0].update(name="DP-1"),  # a name: never sent
        lambda d: d["list"][0].update(w=0),
        lambda d: d["list"][0].update(w=16_385),
        lambda d: d["list"][0].update(x=40_000),
        lambda d: d["list"][0].update(p=1),
        lambda d: d["list"][1].update(id=0),  # ids unique
        lambda d: d["list"][1].update(p=True),  # one primary
        lambda d: d.update(sel=5),  # no such monitor
        lambda d: d.update(sel=True),
        lambda d: d.update(list=[]),
        lambda d: d.update(list=[d["list"][0]] * (MAX_MONITORS + 1)),
        lambda d: d.update(t="cursor"),
    ],
)
def test_a_list_out_of_schema_is_refused(edit: object) -> None:
    data = json.loads(monitors_message(TWO, 0))
    edit(data)  # type: ignore[operator]
    with pytest.raises(MonitorMessageError):
        parse_monitors_message(json.dumps(data))


def test_an_oversized_or_binary_list_is_refused() -> None:
    with pytest.raises(MonitorMessageError):
        parse_monitors_message(b'{"t":"monitors"}')
    with pytest.raises(MonitorMessageError):
        parse_monitors_message(monitors_message(TWO, 0)[:-1] + " " * 2048 + "}")


def test_choices_are_told_apart_from_input_and_checked() -> None:
    assert parse_monitor_choice(monitor_choice(1)) == 1
    assert parse_monitor_choice(monitor_choice(ALL_MONITORS)) == ALL_MONITORS
    # Not a choice: the input policy judges these.
    for other in ('{"t":"move","x":1,"y":2}', "not json", b"\x00", '{"t":"key"}'):
        assert parse_monitor_choice(other) is None
    for bad in ('{"t":"monitor","id":16}', '{"t":"monitor","id":-2}', '{"t":"monitor"}',
                '{"t":"monitor","id":true}', '{"t":"monitor","id":1,"x":0}'):  # fmt: skip
        with pytest.raises(MonitorMessageError):
            parse_monitor_choice(bad)


def test_regions_primary_chosen_and_all() -> None:
    assert region_for(TWO, None) == TWO[0]
    assert region_for(TWO, 1) == TWO[1]
    assert region_for(TWO, ALL_MONITORS) == Monitor(ALL_MONITORS, 0, -200, 3200, 1280)
    assert bounding_box(TWO[:1]) == Monitor(ALL_MONITORS, 0, 0, 1920, 1080)
    with pytest.raises(MonitorMessageError):
        region_for(TWO, 2)
    with pytest.raises(MonitorMessageError):
        region_for([], None)


def test_monitors_are_numbered_left_to_right_clipped_with_one_primary() -> None:
    areas = [(1024, 0, 800, 600, False), (0, 0, 1024, 768, True), (3000, 0, 100, 100, True)]
    assert number_monitors(areas, 1824, 768) == [
        Monitor(0, 0, 0, 1024, 768, True),
        Monitor(1, 1024, 0, 800, 600, False),
    ]  # the third lies wholly off the screen
    # No usable area: the whole screen is the one monitor.
    assert number_monitors([], 1280, 720) == [Monitor(0, 0, 0, 1280, 720, True)]
    both = number_monitors([(0, 0, 10, 10, True), (10, 0, 10, 10, True)], 20, 10)
    assert [m.primary for m in both] == [True, False]

"""The watermark: who, where, when, in which session, burned into the pixels cheaply."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from host_agent.video.watermark import Watermark, WatermarkIdentity, render_mask

pytestmark = pytest.mark.unit

IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
NOON_UTC = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)


def frame(value: int) -> np.ndarray:
    return np.full((720, 1280, 4), value, dtype=np.uint8)


def test_text_names_viewer_organization_local_minute_and_session() -> None:
    """The lines carry name, id, clinic, the time in the clinic's zone, and the session."""
    lines = Watermark(IDENTITY, 1280, 720).lines(NOON_UTC)
    assert lines[0] == "山田 太郎  (u-1042)"
    assert lines[1] == "さくら内科クリニック"
    assert lines[2].startswith("2026-11-21 12:00  S:SSSS")  # 03:00 UTC is 12:00 in Tokyo


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("America/New_York", "2026-11-20 22:00"),
        (None, "2026-11-21 12:00"),
        ("Mars/Olympus_Mons", "2026-11-21 12:00"),
    ],
    ids=["clinic-zone", "none-sent", "unknown-here"],
)
def test_time_is_shown_in_the_zone_the_session_start_names(zone: str | None, shown: str) -> None:
    """The session start's zone sets the watermark's clock; without one, or with one this PC
    cannot load, it is Japan's (the broker's default)."""
    identity = dataclasses.replace(IDENTITY, time_zone=zone)
    assert Watermark(identity, 1280, 720).lines(NOON_UTC)[2].startswith(f"{shown}  S:")


@pytest.mark.parametrize("background", [0, 128, 255])
def test_mark_is_visible_on_dark_grey_and_light_backgrounds(background: int) -> None:
    """Some pixels change noticeably on any background, most stay untouched."""
    source = frame(background)
    out = Watermark(IDENTITY, 1280, 720).apply(source, NOON_UTC)
    changed = np.abs(out[..., :3].astype(int) - background).max(axis=-1)
    assert (changed >= 20).sum() > 5_000
    assert (changed == 0).mean() > 0.8
    assert (source == background).all(), "the captured frame itself is never modified"


def test_mask_is_rendered_again_only_when_the_minute_changes() -> None:
    """Frames within one minute reuse the mask; the next minute renders once more."""
    mark = Watermark(IDENTITY, 1280, 720)
    for second in range(0, 50, 10):
        mark.apply(frame(200), NOON_UTC + dt.timedelta(seconds=second))
    assert mark.renders == 1
    mark.apply(frame(200), NOON_UTC + dt.timedelta(minutes=1))
    assert mark.renders == 2


def test_mask_covers_the_whole_frame() -> None:
    """The tiled text reaches every quarter of the picture."""
    mask = render_mask(["山田 太郎", "S:1234"], 1280, 720)
    for quarter in (mask[:360, :640], mask[:360, 640:], mask[360:, :640], mask[360:, 640:]):
        assert quarter.any()


def test_frame_of_another_size_is_refused() -> None:
    """A frame that does not match the watermark's size is an error, not a partial mark."""
    with pytest.raises(ValueError, match="size"):
        Watermark(IDENTITY, 1280, 720).apply(np.zeros((10, 10, 4), np.uint8), NOON_UTC)

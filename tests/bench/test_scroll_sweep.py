"""The scroll sweep's arithmetic (bench.scroll_sweep) and the glass's rate modes: a wrong
ratio here would be a wrong claim in the README."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import scroll_sweep
from bench.glass_content import content_speed, is_rate_mode, page_rate, radiograph_ppm, scroll_speed

pytestmark = pytest.mark.unit


def window(mode: str, fps: float, kbit: float) -> dict[str, Any]:
    return {"mode": mode, "new_pictures_per_s": fps, "payload_kbit_s": kbit,
            "latency_median_ms": 20.0, "latency_p90_ms": 30.0,
            "display_median_ms": fps + 10, "display_p90_ms": fps + 25}  # fmt: skip


def run(
    marked: tuple[float, float], unmarked: tuple[float, float], novnc: tuple[float, float]
) -> dict[str, Any]:
    return {
        name: {"windows": [window("scroll400", *figures)]}
        for name, figures in (
            ("ours_marked", marked),
            ("ours_unmarked", unmarked),
            ("novnc", novnc),
        )
    }


def test_ratios_are_taken_within_each_run_then_the_median() -> None:
    # Run 2 is slower for everyone (load): per-run ratios stay 0.5, a ratio of medians not.
    result = {
        "speeds": [400],
        "runs": [run((30, 1000), (60, 1000), (15, 8000)),
                 run((10, 1200), (20, 1000), (5, 8000)),
                 run((20, 1100), (40, 1000), (10, 8000))],
    }  # fmt: skip
    summary = scroll_sweep.summarize(result)["400"]
    assert summary["ours_marked"]["fps"] == 20
    assert summary["ratios"]["mark_fps_ratio"] == pytest.approx(0.5)
    assert summary["ratios"]["mark_kbit_ratio"] == pytest.approx(1.1)
    assert summary["ratios"]["novnc_fps_ratio"] == pytest.approx(2.0)
    assert summary["ratios"]["novnc_kbit_ratio"] == pytest.approx(1100 / 8000)
    # At display beside after decode: medians over runs of each window's p50 and p90.
    assert summary["ours_marked"]["display_p50_ms"] == 30
    assert summary["ours_marked"]["display_p90_ms"] == 45
    assert "| 400 | ours_marked | 20.0 | 1100 | 20 / 30 | 30 / 45 |" in scroll_sweep.markdown(
        {**result, "size": [1280, 720], "window_s": 5, "date": "d"}, {"400": summary}
    )


@pytest.mark.parametrize(
    ("mode", "speed"),
    [("scroll100", 100), ("scroll2000", 2000), ("scroll5000", 5000), ("scroll99", None),
     ("scroll5001", None), ("scrolling", None), ("scroll", None), ("scroll-5", None)],
)  # fmt: skip
def test_scroll_modes_name_a_speed_in_range(mode: str, speed: int | None) -> None:
    assert scroll_speed(mode) == speed


@pytest.mark.parametrize(
    ("mode", "pages", "panning"),
    [("pages2", 2, None), ("pages20", 20, None), ("pages0", None, None), ("pages21", None, None),
     ("pan400", None, ("pan", 400)), ("xray2000", None, ("xray", 2000)),
     ("pan99", None, None), ("xray", None, None), ("scroll400", None, None)],
)  # fmt: skip
def test_page_and_panning_modes_name_a_rate_in_range(
    mode: str, pages: int | None, panning: tuple[str, int] | None
) -> None:
    assert page_rate(mode) == pages
    assert content_speed(mode) == panning
    assert is_rate_mode(mode) == (pages is not None or panning is not None or mode == "scroll400")


def test_the_radiograph_is_gray_and_not_flat() -> None:
    data = radiograph_ppm(64, 48)
    header = b"P6 64 48 255\n"
    assert data.startswith(header)
    pixels = np.frombuffer(data[len(header) :], dtype=np.uint8).reshape(48, 64, 3)
    assert (pixels[:, :, 0] == pixels[:, :, 1]).all()
    assert (pixels[:, :, 1] == pixels[:, :, 2]).all()
    assert pixels.std() > 10  # shading, ribs and grain: not a flat field


def test_other_contents_get_rows_of_their_own_after_the_scrolls() -> None:
    assert scroll_sweep.sweep_modes([100, 400], ["pages2", "pan400"]) == (
        "scroll100", "scroll400", "pages2", "pan400",
    )  # fmt: skip
    result = {
        "speeds": [400],
        "modes": ["scroll400", "pan400"],
        "runs": [
            {name: {"windows": [window("scroll400", 30, 1000), window("pan400", fps, 2000)]}
             for name, fps in (("ours_marked", 24), ("ours_unmarked", 30), ("novnc", 12))}
        ],
    }  # fmt: skip
    summary = scroll_sweep.summarize(result)
    assert list(summary) == ["400", "pan400"]
    assert summary["pan400"]["ours_marked"]["fps"] == 24
    assert summary["pan400"]["ratios"]["mark_fps_ratio"] == pytest.approx(0.8)
    assert summary["pan400"]["ratios"]["novnc_fps_ratio"] == pytest.approx(2.0)

"""The scroll sweep's arithmetic (bench.scroll_sweep) and the glass's scroll speeds: a wrong
ratio here would be a wrong claim in the README."""

from __future__ import annotations

from typing import Any

import pytest

from bench import scroll_sweep
from bench.glass import scroll_speed

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

"""The side-by-side table of bench/lossy_stream.py (ours and noVNC over one link): one line
per stack and level, and a run that never reached its window says so instead of failing."""

from __future__ import annotations

import pytest

from bench.lossy_novnc import side_by_side

pytestmark = pytest.mark.unit


def test_side_by_side_names_the_stacks_and_formats_the_figures() -> None:
    rows = [
        {"loss": 0.05, "variant": "after", "new_per_s": 31.2, "longest_still_s": 0.433,
         "still_over_1s": 0, "latency_p50_ms": 61.4, "latency_p90_ms": 98.0,
         "link_kbit_s": 2034, "link_lost": 120},
        {"loss": 0.05, "variant": "novnc", "new_per_s": 1.5, "longest_still_s": 7.25,
         "still_over_1s": 4, "latency_p50_ms": None, "latency_p90_ms": None,
         "link_kbit_s": None, "link_lost": None},
    ]  # fmt: skip
    lines = side_by_side(rows).splitlines()
    assert lines[2] == "| 5 % | Mamori | 31.2 | 0.4 s | 0 | 61 / 98 | 2,034 | 120 |"
    assert lines[3] == "| 5 % | x11vnc + noVNC | 1.5 | 7.2 s | 4 | – / – | – | – |"

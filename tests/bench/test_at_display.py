"""Latency at display (bench.at_display): when each decoded picture reached the screen, on
the glass's clock. A wrong join here would be a wrong latency in the README."""

from __future__ import annotations

import pytest

from bench import at_display, metrics

pytestmark = pytest.mark.unit


def test_ours_joins_decoded_pictures_to_presented_frames_by_media_time() -> None:
    """Each decoded picture (code, wall ms, VideoFrame timestamp µs) takes the display time
    of the presented frame with that media time (seconds * 1e6, rounded); a picture the
    compositor dropped is not shown; the result is in display order."""
    decoded = [(5, 1000.0, 33_000), (6, 1010.0, 66_000), (7, 1020.0, 99_000)]
    presented = [
        # media µs, expectedDisplayTime, presentationTime, callback time (wall ms)
        (99_000.0000004, 1050.0, 1035.0, 1034.0),
        (33_000, 1030.0, 1015.0, 1016.0),
    ]
    shown = at_display.ours_shown(decoded, presented, at_display.EXPECTED)
    assert shown == [(5, 1030.0), (7, 1050.0)]
    assert at_display.ours_shown(decoded, presented, at_display.PRESENTED) == [
        (5, 1015.0),
        (7, 1035.0),
    ]
    assert at_display.ours_shown(decoded, presented, at_display.CALLBACK) == [
        (5, 1016.0),
        (7, 1034.0),
    ]


def test_a_frame_presented_twice_counts_at_its_first_presentation() -> None:
    decoded = [(5, 1000.0, 33_000)]
    presented = [(33_000, 1030.0, 1015.0, 1016.0), (33_000, 1047.0, 1031.0, 1032.0)]
    assert at_display.ours_shown(decoded, presented, at_display.EXPECTED) == [(5, 1030.0)]


def test_novnc_flips_are_shown_at_the_next_animation_frame() -> None:
    """Flip n (1-based, as the probe counts) is on screen at the first animation frame
    whose flip count reached n; flips after the last frame are not shown yet."""
    decoded = [(5, 1000.0, 1), (6, 1003.0, 2), (7, 1020.0, 3), (8, 1040.0, 4)]
    frames = [(2, 1016.7, 1017.0), (3, 1033.3, 1033.9)]
    assert at_display.novnc_shown(decoded, frames, at_display.FRAME_TIME) == [
        (5, 1016.7),
        (6, 1016.7),
        (7, 1033.3),
    ]
    assert at_display.novnc_shown(decoded, frames, at_display.FRAME_RAN) == [
        (5, 1017.0),
        (6, 1017.0),
        (7, 1033.9),
    ]


def test_display_latency_is_counted_from_the_glass_paint_once_per_code() -> None:
    """Through metrics.latencies_ms: the glass painted 5 at 100.000 s, 6 at 100.010 s; the
    repeat of code 5 (a keep-alive) is no new sample."""
    paints = metrics.read_paints("5 100.000\n6 100.010\n")
    decoded = [(5, 100_004.0, 1), (5, 100_008.0, 2), (6, 100_013.0, 3)]
    frames = [(2, 100_016.0, 100_016.5), (3, 100_032.0, 100_032.4)]
    shown = at_display.novnc_shown(decoded, frames, at_display.FRAME_RAN)
    assert metrics.latencies_ms(shown, paints, (100.0, 101.0)) == pytest.approx([16.5, 22.4])


def test_lead_over_decode_says_how_far_each_display_time_lies_after_decode() -> None:
    """Medians of (display - decode) per picture shown, and how many display times lie
    before their decode (which would make that timing implausible)."""
    decoded = [(5, 1000.0, 33_000), (6, 1010.0, 66_000), (7, 1020.0, 99_000)]
    presented = [
        (33_000, 1030.0, 1015.0, 1016.0),
        (66_000, 1005.0, 1012.0, 1016.0),
        (99_000, 1050.0, 1035.0, 1034.0),
    ]
    lead = at_display.ours_lead_ms(decoded, presented)
    assert lead[at_display.EXPECTED] == {"median": 30.0, "before_decode": 1, "shown": 3}
    assert lead[at_display.PRESENTED] == {"median": 15.0, "before_decode": 0, "shown": 3}
    assert lead[at_display.CALLBACK] == {"median": 14.0, "before_decode": 0, "shown": 3}


def test_a_key_is_seen_at_the_first_changed_frame_after_it() -> None:
    """input_latency: changes are (callback time, expectedDisplayTime) on the page clock;
    the key pressed at t0 shows at the first change whose callback time is after t0."""
    changes = [(90.0, 110.0), (120.0, 141.0), (137.0, 158.0)]
    assert at_display.key_seen(changes, 100.0) == (20.0, 41.0)
    assert at_display.key_seen(changes, 137.0) is None

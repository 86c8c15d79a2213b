"""The capture policy (host_agent.video.scheduler), driven with explicit times."""

from __future__ import annotations

import numpy as np
import pytest

from host_agent.video.scheduler import FrameScheduler, Pacing, Plan

pytestmark = pytest.mark.unit

ROWS, COLS = 45, 80  # 1280x720 in 16-px tiles


def tiles(*cells: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.bool_)
    for row, col in cells:
        mask[row, col] = True
    return mask


def run(scheduler: FrameScheduler, now: float, changed: np.ndarray | None = None) -> Plan:
    """Carry out the plan due at ``now`` as the track does; return it."""
    plan = scheduler.plan(now)
    assert plan.at <= now + 1e-9, f"nothing due at {now}: next at {plan.at}"
    if plan.capture:
        scheduler.change_pending = False
        scheduler.captured(now, changed if changed is not None else tiles())
    scheduler.sent(now, plan)
    return plan


def settled_scheduler() -> FrameScheduler:
    """Past the first keyframe and its refinement: a quiet screen at t=10 s."""
    scheduler = FrameScheduler(ROWS, COLS)
    everything = np.ones((ROWS, COLS), dtype=np.bool_)
    run(scheduler, 0.0, everything)
    run(scheduler, 0.5)  # the refinement of the first picture
    assert not scheduler.unrefined.any()
    scheduler.last_sent = 9.5
    return scheduler


def test_the_first_frame_is_a_captured_keyframe() -> None:
    """A new session captures the whole screen at once and sends it as a keyframe."""
    plan = FrameScheduler(ROWS, COLS).plan(0.0)
    assert (plan.at, plan.capture, plan.keyframe) == (0.0, True, True)


def test_a_static_screen_gets_only_keepalives_half_a_second_apart() -> None:
    """Without drawing nothing is captured; one keep-alive frame every 0.5 s, no more (the
    viewer calls a picture frozen after 1 s without a frame)."""
    scheduler = settled_scheduler()
    at = scheduler.plan(9.6).at
    assert at == pytest.approx(10.0)
    for _ in range(3):
        plan = run(scheduler, at)
        assert plan.keepalive
        at = scheduler.plan(at).at
    assert at == pytest.approx(11.5)


def test_drawing_is_captured_at_once_after_a_quiet_spell() -> None:
    """A change after a quiet screen is captured immediately, not at the next tick."""
    scheduler = settled_scheduler()
    scheduler.note_change()
    plan = scheduler.plan(10.0)
    assert (plan.at, plan.capture) == (10.0, True)


def test_small_autonomous_changes_are_paced_at_small_fps() -> None:
    """A caret or a clock redrawing continuously is captured at most small_fps times."""
    scheduler = settled_scheduler()
    scheduler.note_change()
    run(scheduler, 10.0, tiles((0, 0)))
    scheduler.note_change()
    assert scheduler.plan(10.0).at == pytest.approx(10.0 + 1 / Pacing().small_fps)


@pytest.mark.parametrize("cause", ["input", "large change"])
def test_input_or_large_changes_get_the_full_frame_rate(cause: str) -> None:
    """While the viewer gives input, or after a large change (scrolling), max_fps applies,
    also for small changes in between."""
    scheduler = settled_scheduler()
    scheduler.note_change()
    if cause == "input":
        scheduler.note_input(10.0)
        run(scheduler, 10.0, tiles((0, 0)))
    else:
        big = np.zeros((ROWS, COLS), dtype=np.bool_)
        big[5:30, :] = True
        run(scheduler, 10.0, big)
    scheduler.note_change()
    step = 1 / Pacing().max_fps
    assert scheduler.plan(10.0).at == pytest.approx(10.0 + step)
    run(scheduler, 10.0 + step, tiles((0, 0)))  # small, but within the hold
    scheduler.note_change()
    assert scheduler.plan(10.0 + step).at == pytest.approx(10.0 + 2 * step)


def test_settled_tiles_get_one_refinement_frame_300_ms_later() -> None:
    """Changed tiles are refined once, 300 ms after they stopped changing; then nothing."""
    scheduler = settled_scheduler()
    before = scheduler.refinements
    scheduler.note_change()
    run(scheduler, 10.0, tiles((3, 4), (3, 5)))
    plan = scheduler.plan(10.05)
    assert plan.refine
    assert plan.at == pytest.approx(10.3)
    assert plan.refine_mask is not None
    assert plan.refine_mask.sum() == 2
    assert plan.refine_mask[3, 4]
    assert plan.refine_mask[3, 5]
    run(scheduler, plan.at)
    assert scheduler.refinements == before + 1
    assert scheduler.plan(10.31).keepalive


def test_a_tile_changing_again_in_the_refinement_frame_stays_unrefined() -> None:
    """A tile shown anew in the refinement frame itself is refined later, not marked done."""
    scheduler = settled_scheduler()
    scheduler.note_change()
    run(scheduler, 10.0, tiles((3, 4)))
    scheduler.note_change()
    plan = run(scheduler, 10.3, tiles((3, 4)))
    assert plan.refine
    assert plan.capture
    assert scheduler.unrefined[3, 4]
    assert scheduler.plan(10.31).refine


def test_no_refinement_while_much_of_the_screen_is_moving() -> None:
    """Settled tiles wait while more than a tenth of the screen still changes."""
    scheduler = settled_scheduler()
    scheduler.note_change()
    run(scheduler, 10.0, tiles((0, 0)))
    moving = np.zeros((ROWS, COLS), dtype=np.bool_)
    moving[10:30, :] = True
    now = 10.0
    while now < 10.5:
        scheduler.note_change()
        now = scheduler.plan(now).at
        plan = run(scheduler, now, moving)
        assert not plan.refine
    # The movement stopped at `now`: refinement is planned for when it has settled.
    plan = scheduler.plan(now + 0.01)
    assert plan.refine
    assert plan.at == pytest.approx(now + Pacing().settle_s)


def test_a_keyframe_request_is_served_by_the_next_frame() -> None:
    """PLI/FIR: the next plan is a keyframe, due now, and only that one."""
    scheduler = settled_scheduler()
    scheduler.request_keyframe()
    plan = run(scheduler, 10.0)
    assert plan.keyframe
    assert not plan.capture
    assert not scheduler.plan(10.01).keyframe


def test_an_overspent_budget_delays_the_next_frame() -> None:
    """defer(): no frame, not even a capture of new drawing, before the budget recovers."""
    scheduler = settled_scheduler()
    scheduler.defer(10.2)
    scheduler.note_change()
    assert scheduler.plan(10.0).at == pytest.approx(10.2)


def test_polling_captures_at_every_slot_without_notifications() -> None:
    """Without XDamage every frame slot is a capture (the pixel diff decides)."""
    scheduler = settled_scheduler()
    scheduler.polling = True
    plan = scheduler.plan(10.0)
    assert plan.capture
    assert plan.at == pytest.approx(10.0)


def test_pacing_refuses_inconsistent_rates() -> None:
    """small_fps above max_fps is a configuration error."""
    with pytest.raises(ValueError, match="small_fps"):
        Pacing(max_fps=10, small_fps=20)


def test_a_refinement_the_budget_puts_off_does_not_hold_back_the_keepalive() -> None:
    """Tiles wait for a refinement the byte budget cannot pay for yet (deferred 2 s): the
    keep-alive still goes out 0.5 s after the last frame, not when the refinement fits. The
    viewer ends a session whose path carried nothing for 1.5 s."""
    scheduler = settled_scheduler()
    scheduler.note_change()
    run(scheduler, 10.0, tiles((3, 4)))
    scheduler.defer_refinement(12.0)
    plan = scheduler.plan(10.1)
    assert plan.keepalive
    assert not plan.refine
    assert plan.at == pytest.approx(10.5)
    run(scheduler, plan.at)
    assert scheduler.plan(10.6).at == pytest.approx(11.0)
    # Once the budget holds it, the refinement comes before the next keep-alive is due.
    scheduler.defer_refinement(-np.inf)
    plan = scheduler.plan(10.6)
    assert plan.refine
    assert plan.at == pytest.approx(10.6)


def test_polling_without_changes_still_sends_a_keepalive_every_half_second() -> None:
    """Without damage notifications the track captures every interval; the unchanged ones send
    nothing, except that a capture 0.5 s after the last frame is marked to go out anyway."""
    scheduler = settled_scheduler()
    scheduler.polling = True
    at = 9.6
    for _ in range(40):
        plan = scheduler.plan(at)
        at = plan.at
        scheduler.captured(at, tiles())
        if plan.keepalive:
            scheduler.sent(at, plan)
            break
        at += 1e-6
    assert plan.keepalive
    assert plan.capture
    assert at == pytest.approx(10.0, abs=0.06)


def test_a_page_switched_every_second_stops_costing_a_refinement_each_time() -> None:
    """A refinement overtaken by the next change doubles its tiles' wait (0.3, 0.6, 1.2 s):
    pages switched once a second are refined twice, not every time; the page left on screen
    is refined 1.2 s after its switch, and after 3 s of calm a switch is refined at 0.3 s."""
    scheduler = settled_scheduler()
    page = np.zeros((ROWS, COLS), dtype=np.bool_)
    page[5:40] = True
    refined_at: list[float] = []

    def step_until(end: float, switches: set[int]) -> None:
        for i in range(round(scheduler.last_sent * 100) + 1, round(end * 100) + 1):
            now = i / 100
            if i in switches:
                scheduler.note_change()
                run(scheduler, now, page)
            elif scheduler.plan(now).at <= now:
                plan = run(scheduler, now)
                if plan.refine and plan.refine_mask is not None and plan.refine_mask[20, 40]:
                    refined_at.append(now)

    step_until(16.0, {1000, 1100, 1200, 1300, 1400, 1500})
    assert refined_at == [pytest.approx(10.3), pytest.approx(11.6)]
    step_until(19.0, set())
    assert refined_at[2:] == [pytest.approx(16.2)]
    step_until(21.0, {2000})
    assert refined_at[3:] == [pytest.approx(20.3)]

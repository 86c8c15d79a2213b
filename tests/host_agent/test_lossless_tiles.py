"""Lossless tiles of settled regions: which blocks, when, their messages, their pixels (the
marked picture the encoder was given, decoded bit-exact), the byte budget and the sender."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import math
import struct

import numpy as np
import pytest
from PIL import Image

from devkit.settled_screen import text_picture
from host_agent.video import encode_pipeline, tile_sender
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.encode_pipeline import Codec, EncodePipeline
from host_agent.video.lossless_tiles import (
    BLOCK,
    HEADER,
    KIND_INVALIDATE,
    KIND_TILE,
    MAX_MESSAGE,
    RECT,
    BlockTracker,
    encode_tile,
    tile_message,
)
from host_agent.video.scheduler import Plan
from host_agent.video.screen_track import ScreenTrack
from host_agent.video.tile_sender import MAX_TURN_BYTES, MIN_ALLOWANCE, ByteBudget, TileSender
from host_agent.video.watermark import WatermarkIdentity

pytestmark = pytest.mark.unit

W, H = 320, 200  # 3 x 2 blocks, the last column and row partial
IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
NOON_UTC = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)


def decode_tile(message: bytes) -> tuple[tuple[int, ...], tuple[int, ...], np.ndarray]:
    """(header fields, rect, RGB pixels) of a tile message."""
    head = HEADER.unpack_from(message)
    assert head[:3] == (b"MT", 1, KIND_TILE)
    rect = RECT.unpack_from(message, HEADER.size)
    encoded = message[HEADER.size + RECT.size :]
    image = Image.open(io.BytesIO(encoded))
    assert image.mode in {"RGB", "L"}
    return head, rect, np.asarray(image.convert("RGB"))


def decode_invalidate(message: bytes) -> list[tuple[int, ...]]:
    head = HEADER.unpack_from(message)
    assert head[:3] == (b"MT", 1, KIND_INVALIDATE)
    (count,) = struct.unpack_from(">H", message, HEADER.size)
    at = HEADER.size + 2
    assert len(message) == at + count * RECT.size
    return [RECT.unpack_from(message, at + i * RECT.size) for i in range(count)]


def tiles_mask(*points: tuple[int, int]) -> np.ndarray:
    """A 16-px tile mask of the W x H screen with the tiles holding these pixels set."""
    mask = np.zeros((-(-H // 16), W // 16), dtype=np.bool_)
    for x, y in points:
        mask[y // 16, x // 16] = True
    return mask


def test_a_changed_block_is_due_only_once_quiet_and_then_once() -> None:
    tracker = BlockTracker(W, H, generation=7, settle_s=0.3)
    assert tracker.changed(tiles_mask((5, 5), (300, 190)), now=10.0) is None  # nothing shown
    assert tracker.due(10.29) == []
    assert tracker.next_due() == pytest.approx(10.3)
    due = tracker.due(10.3)
    assert [(b.x, b.y, b.w, b.h) for b in due] == [(0, 0, 128, 128), (256, 128, 64, 72)]
    picture = np.zeros((H, W, 4), dtype=np.uint8)
    messages = tracker.take(picture, 10.3, allowance=10**6)
    assert len(messages) == 2
    head, rect, _ = decode_tile(messages[1])
    assert head[3:] == (7, W, H)
    assert rect == (256, 128, 64, 72)
    assert tracker.due(11.0) == []
    assert tracker.next_due() is None


def test_a_block_that_changes_again_keeps_waiting() -> None:
    tracker = BlockTracker(W, H, generation=1, settle_s=0.3)
    tracker.changed(tiles_mask((5, 5)), now=0.0)
    tracker.changed(tiles_mask((100, 100)), now=0.2)  # the same block, still moving
    assert tracker.due(0.35) == []
    assert len(tracker.due(0.5)) == 1


def test_with_drawing_not_yet_captured_a_block_is_quiet_only_as_far_as_captures_saw() -> None:
    """The narrow link's stall: the byte budget held the next capture of a panning photo
    back ~0.4 s, the blocks looked settled by the clock, and their tiles (of a picture
    already gone) went into the link beside the video."""
    tracker = BlockTracker(W, H, generation=1, settle_s=0.1)
    picture = np.zeros((H, W, 4), dtype=np.uint8)
    tracker.captured(tiles_mask((5, 5)), now=0.0)
    tracker.captured(tiles_mask(), now=0.05)  # the next capture: unchanged
    # Drawing reported since, not captured: by the clock the block is due, not by what
    # was seen.
    assert tracker.take(picture, 0.5, allowance=10**6, pending=True) == []
    # A capture then finds the block unchanged: quiet since 0.0, seen until 0.5.
    tracker.captured(tiles_mask((300, 190)), now=0.5)
    assert len(tracker.take(picture, 0.5, allowance=10**6, pending=True)) == 1
    # Nothing pending (a still screen): the clock says it.
    assert tracker.take(picture, 0.55, allowance=10**6, pending=True) == []
    assert len(tracker.take(picture, 0.6, allowance=10**6)) == 1


def test_a_shown_block_that_changes_is_invalidated_at_once_in_runs() -> None:
    tracker = BlockTracker(W, H, generation=3, settle_s=0.3)
    tracker.changed(np.ones((13, 20), dtype=np.bool_), now=0.0)
    picture = np.zeros((H, W, 4), dtype=np.uint8)
    assert len(tracker.take(picture, 1.0, allowance=10**6)) == 6
    # Blocks (0,0), (0,1) and (1,2) change: one run in the first row, one in the second.
    message = tracker.changed(tiles_mask((0, 0), (130, 10), (260, 150)), now=2.0)
    assert message is not None
    assert HEADER.unpack_from(message)[3:] == (3, W, H)
    assert decode_invalidate(message) == [(0, 0, 256, 128), (256, 128, 64, 72)]
    # Changing again before they were re-sent: nothing shown there, nothing to invalidate.
    assert tracker.changed(tiles_mask((0, 0)), now=2.1) is None
    assert tracker.invalidated == 3


def test_the_allowance_bounds_a_take_but_one_block_always_goes() -> None:
    tracker = BlockTracker(W, H, generation=1, settle_s=0.3)
    tracker.changed(np.ones((13, 20), dtype=np.bool_), now=0.0)
    picture = np.zeros((H, W, 4), dtype=np.uint8)  # whole blocks encode to equal sizes
    first = tracker.take(picture, 1.0, allowance=1)
    assert len(first) == 1
    rest = tracker.take(picture, 1.0, allowance=len(first[0]) + 1)
    assert len(rest) == 2
    assert int(tracker.dirty.sum()) == 3


def test_tiles_are_bit_exact_and_a_noise_block_fits_one_message() -> None:
    rng = np.random.default_rng(2)
    bgra = rng.integers(0, 256, (BLOCK, BLOCK, 4), dtype=np.uint8)
    encoded = encode_tile(bgra)
    decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
    np.testing.assert_array_equal(decoded, bgra[..., 2::-1])  # BGRA -> RGB, alpha dropped
    tracker = BlockTracker(W, H, generation=1, settle_s=0.3)
    message = tile_message(1, W, H, tracker.rect(0, 0), encoded)
    assert len(message) < MAX_MESSAGE


def test_a_gray_block_is_a_gray_png_a_coloured_one_webp_lossless() -> None:
    gray = np.zeros((BLOCK, BLOCK, 4), dtype=np.uint8)
    gray[..., :3] = np.arange(BLOCK, dtype=np.uint8)[None, :, None]
    gray[..., 3] = 255
    encoded = encode_tile(gray)
    assert encoded.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(encoded))
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), gray[..., 0])
    gray[5, 5, 2] += 1  # one pixel a little red
    encoded = encode_tile(gray)
    assert encoded[:4] == b"RIFF"
    assert encoded[12:16] == b"VP8L"
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")), gray[..., 2::-1]
    )


def test_text_tiles_cost_well_under_png_and_stay_bit_exact() -> None:
    # A screen of coloured EHR text in blocks: WebP lossless at the effort that finds the
    # text's repeats (quality 30 at method 1) was 0.55 x level-1 RGB PNG's bytes; quality
    # 25 (what it replaced) 0.65 x.
    rgb = text_picture(640, 256, seed=5)
    bgra = np.full((*rgb.shape[:2], 4), 255, dtype=np.uint8)
    bgra[..., :3] = rgb[..., ::-1]
    ours = png = 0
    for y in range(0, 256, BLOCK):
        for x in range(0, 640, BLOCK):
            block = np.ascontiguousarray(bgra[y : y + BLOCK, x : x + BLOCK])
            encoded = encode_tile(block)
            decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
            np.testing.assert_array_equal(decoded, block[..., 2::-1])
            ours += len(encoded)
            out = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(block[..., 2::-1])).save(
                out, format="PNG", compress_level=1
            )
            png += len(out.getvalue())
    assert ours <= 0.6 * png


def test_rejects_frame_sizes_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        BlockTracker(0, 10, 1, 0.3)
    with pytest.raises(ValueError, match="out of range"):
        BlockTracker(20_000, 10, 1, 0.3)


class Gradient:
    """A grayscale gradient with a coloured text-like stripe; ``shade`` changes one block."""

    def __init__(self) -> None:
        ramp = np.linspace(0, 255, W, dtype=np.uint8)
        self.pixels = np.zeros((H, W, 4), dtype=np.uint8)
        self.pixels[..., :3] = ramp[None, :, None]
        self.pixels[40:56, 20:300, :3] = (30, 90, 200)

    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(0, 0, W, H)

    def grab(self, rect: Rect | None = None) -> BGRA:
        r = rect or Rect(0, 0, W, H)
        return np.ascontiguousarray(self.pixels[r.y : r.y + r.h, r.x : r.x + r.w])

    def close(self) -> None:
        pass


def test_tiles_carry_the_marked_picture_the_encoder_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encode_pipeline, "_utc_now", lambda: NOON_UTC)
    source = Gradient()
    pipeline = EncodePipeline(lambda: source, 60, 8_000_000, IDENTITY)
    pipeline.tiles = BlockTracker(W, H, generation=1, settle_s=0.0)
    key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
    produced = pipeline.produce(Codec.H264, key, None, 0, 8_000_000)
    assert produced.invalidate is None
    messages, next_due = pipeline.take_tiles(10**7)
    assert len(messages) == 6
    assert next_due is None
    shown = np.zeros((H, W, 3), dtype=np.uint8)
    for message in messages:
        _, (x, y, w, h), rgb = decode_tile(message)
        shown[y : y + h, x : x + w] = rgb
    marked = pipeline.picture.bgra[..., 2::-1]
    np.testing.assert_array_equal(shown, marked)
    # The mark is in the tiles: they differ from the unmarked screen.
    assert (shown != source.pixels[..., 2::-1]).any()
    # A change to one block: the next capture's product invalidates it.
    source.pixels[150:160, 150:160, :3] = 0
    change = Plan(at=0.1, capture=True, refine=False, keyframe=False)
    produced = pipeline.produce(Codec.H264, change, Rect(150, 150, 10, 10), 1500, 8_000_000)
    assert produced.invalidate is not None
    assert decode_invalidate(produced.invalidate) == [(128, 128, 128, 72)]
    pipeline.close()


def test_the_tiles_budget_follows_the_link_not_the_encoders_pushback() -> None:
    track = ScreenTrack(None, Codec.H264, bitrate=8_000_000, lossless_tiles=True)
    assert track.link_bitrate == track.target_bitrate == 8_000_000  # before any estimate
    # The pacer drains a page switch: the encoder's share is cut to the floor, the link's
    # estimate stands, and the tiles' bucket keeps what it banked.
    track.set_target_bitrate(150_000, 1_500_000, queued_s=0.9)
    assert track.target_bitrate == 150_000
    assert track.link_bitrate == 1_500_000
    assert track.video_queued_s == 0.9  # the tiles wait for that queue (below)
    budget = ByteBudget(0.0)
    banked = budget.refill(0.0, track.link_bitrate)
    assert banked == pytest.approx(0.75 * 1_500_000 / 8 * 2.0)
    track.set_target_bitrate(150_000, 10**9)
    assert track.link_bitrate == 8_000_000  # never above the track's maximum


def test_the_budget_is_a_share_of_the_bitrate_with_a_bounded_burst() -> None:
    budget = ByteBudget(0.0, share=0.5, burst_s=1.0)
    assert budget.refill(0.0, 8_000_000) == pytest.approx(500_000)  # full at the start
    budget.spend(500_000)
    assert budget.refill(0.5, 8_000_000) == pytest.approx(250_000)
    assert budget.refill(10.0, 8_000_000) == pytest.approx(500_000)  # capped at 1 s
    budget.spend(600_000)
    assert budget.ready_in(8_000_000, 0) == pytest.approx(0.2)
    assert budget.refill(10.0, 100_000) == pytest.approx(-100_000)
    # A tiny rate still lets one message's worth accumulate.
    assert budget.refill(5000.0, 1_000) == pytest.approx(MIN_ALLOWANCE)


class FakeSource:
    def __init__(self, batches: list[list[bytes]]) -> None:
        self.batches = batches
        self.allowances: list[int] = []
        self.link_bitrate = 8_000_000
        self.video_queued_s = 0.0

    async def take_tiles(self, allowance: int) -> tuple[list[bytes], float | None]:
        self.allowances.append(allowance)
        return (self.batches.pop(0) if self.batches else []), None


async def test_the_sender_sends_invalidations_at_once_and_tiles_within_budget() -> None:
    source = FakeSource([[b"a" * 300_000], [b"b" * 300_000]])
    sent: list[bytes] = []
    sender = TileSender(source, sent.append, lambda: 0)
    sender._budget.tokens = 500_000.0
    sender.note_change(b"inv")
    assert sent == [b"inv"]
    sender.start()
    for _ in range(200):  # bounded: the second batch waits for the budget to refill
        if len(sent) == 3:
            break
        await asyncio.sleep(0.01)
    sender.close()
    assert [len(m) for m in sent] == [3, 300_000, 300_000]
    # The second take came only once the budget was back above the threshold after the
    # first (500 kB - 300 kB = 200 kB left: enough, so it went at once).
    assert source.allowances[0] == MAX_TURN_BYTES
    assert source.allowances[1] >= MIN_ALLOWANCE
    assert sender.tiles_sent == 2
    assert sender.invalidations_sent == 1
    assert math.isfinite(sender._budget.tokens)


async def test_the_sender_waits_while_the_channel_is_backed_up() -> None:
    source = FakeSource([[b"a"]])
    sent: list[bytes] = []
    backlog = [10**6]
    sender = TileSender(source, sent.append, lambda: backlog[0])
    sender.start()
    await asyncio.sleep(0.1)
    assert source.allowances == []
    assert sent == []
    backlog[0] = 0
    for _ in range(100):
        if sent:
            break
        await asyncio.sleep(0.01)
    sender.close()
    assert sent == [b"a"]


async def test_the_channel_draining_wakes_the_sender_before_its_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The channel's bufferedamountlow (``wake``) ends the wait at once: polled alone, a
    radiograph's 563 kB of tiles went 32 KiB per poll. (The poll made 5 s here, so that
    only the wake can explain a send within a second.)"""
    monkeypatch.setattr(tile_sender, "BACKLOG_POLL_S", 5.0)
    source = FakeSource([[b"a"]])
    sent: list[bytes] = []
    backlog = [10**6]
    sender = TileSender(source, sent.append, lambda: backlog[0])
    sender.start()
    await asyncio.sleep(0.005)  # the first turn found the channel backed up, and sleeps
    assert sent == []
    loop = asyncio.get_running_loop()
    drained_at = loop.time()
    backlog[0] = 0
    sender.wake()
    for _ in range(1000):
        if sent:
            break
        await asyncio.sleep(0.001)
    woke_after = loop.time() - drained_at
    sender.close()
    assert sent == [b"a"]
    assert woke_after < 1.0


async def test_the_sender_waits_while_the_pacer_holds_video_and_keeps_its_budget() -> None:
    """A tile is the lowest priority on the link: while the pacer still holds a large frame
    nothing is taken, and what the bucket banked is there when it has drained."""
    source = FakeSource([[b"a" * 200_000]])
    source.video_queued_s = 0.4
    sent: list[bytes] = []
    sender = TileSender(source, sent.append, lambda: 0)
    sender._budget.tokens = 300_000.0
    sender.start()
    await asyncio.sleep(0.1)
    assert source.allowances == []
    assert sent == []
    source.video_queued_s = 0.0
    for _ in range(100):
        if sent:
            break
        await asyncio.sleep(0.01)
    sender.close()
    assert sent == [b"a" * 200_000]
    assert source.allowances[0] == MAX_TURN_BYTES

"""Our x264 (host_agent.video.x264, host_agent.video.encoder) against PyAV's H.264 decoder:
real bitstreams."""

from __future__ import annotations

import math

import av
import numpy as np
import pytest

from host_agent.video.change_detection import TILE, Rect, ScreenPicture
from host_agent.video.encoder import BASE_QP, REFINE_QP, H264Encoder, h264_level
from host_agent.video.motion_search import Search

pytestmark = pytest.mark.unit

W, H = 640, 368  # 40 x 23 macroblocks: small enough to be quick


def text_like(seed: int = 1) -> np.ndarray:
    """Dark glyph-like strokes on white: what refinement is for."""
    rng = np.random.default_rng(seed)
    bgra = np.full((H, W, 4), 255, dtype=np.uint8)
    for top in range(8, H - 16, 18):
        for left in range(8, W - 16, 9):
            if rng.random() < 0.8:
                glyph = rng.integers(0, 2, size=(12, 7), dtype=np.uint8).astype(bool)
                bgra[top : top + 12, left : left + 7, :3][glyph] = rng.integers(0, 90)
    return bgra


def picture_of(bgra: np.ndarray) -> ScreenPicture:
    picture = ScreenPicture(W, H)
    picture.update(lambda r: bgra[r.y : r.y + r.h, r.x : r.x + r.w])
    return picture


def nal_types(data: bytes) -> list[int]:
    return [data[i + 3] & 0x1F for i in range(len(data) - 3) if data[i : i + 3] == b"\0\0\1"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


class Session:
    """An encoder and a decoder, frame by frame."""

    def __init__(self, max_fps: int = 60) -> None:
        self.encoder = H264Encoder(W, H, max_fps)
        self.decoder = av.CodecContext.create("h264", "r")
        self.pts = 0

    def send(self, picture: ScreenPicture, **kwargs: object) -> tuple[bytes, np.ndarray]:
        packets = self.encoder.encode(picture.planes, self.pts, **kwargs)  # type: ignore[arg-type]
        self.pts += 1500
        assert len(packets) == 1
        frames = self.decoder.decode(packets[0])
        assert len(frames) == 1, "a frame must come out of the decoder at once (no delay)"
        return bytes(packets[0]), frames[0].to_ndarray(format="rgb24")


@pytest.mark.parametrize(
    ("size", "fps", "level"),
    [((1280, 720), 30, "3.1"), ((1280, 720), 60, "3.2"), ((1920, 1080), 30, "4"),
     ((1920, 1080), 60, "4.2"), ((2560, 1440), 60, "5.1")],
)  # fmt: skip
def test_the_level_allows_the_size_and_rate(size: tuple[int, int], fps: int, level: str) -> None:
    """1080p60 needs 4.2, 720p60 3.2 (aiortc's fixed 3.1 allows neither)."""
    assert h264_level(*size, fps).name == level


def test_the_first_frame_is_an_idr_with_sps_carrying_the_level() -> None:
    """A keyframe is SPS + PPS + IDR, constrained baseline, level_idc as negotiated."""
    session = Session()
    data, picture = session.send(picture_of(text_like()), qp=BASE_QP, keyframe=True)
    types = nal_types(data)
    assert types[:2] == [7, 8]
    assert 5 in types
    sps = data.index(b"\0\0\1\x67") + 4
    profile_idc, constraints, level_idc = data[sps], data[sps + 1], data[sps + 2]
    assert profile_idc == 66
    assert constraints & 0x40
    assert level_idc == session.encoder.level.idc
    assert picture.shape == (H, W, 3)


def test_a_keyframe_on_request_is_an_idr_again() -> None:
    """After P frames, keyframe=True (a PLI) yields an IDR the decoder can start from."""
    session = Session()
    picture = picture_of(text_like())
    session.send(picture, qp=BASE_QP, keyframe=True)
    data, _ = session.send(picture, qp=BASE_QP)
    assert 5 not in nal_types(data)
    data, _ = session.send(picture, qp=BASE_QP, keyframe=True)
    assert 5 in nal_types(data)
    assert 7 in nal_types(data)


def test_an_unchanged_picture_costs_a_few_bytes() -> None:
    """Keep-alive frames of a static screen are empty P frames."""
    session = Session()
    picture = picture_of(text_like())
    session.send(picture, qp=BASE_QP, keyframe=True)
    unchanged = np.zeros((picture.tile_rows, picture.tile_cols), dtype=np.bool_)
    data, _ = session.send(picture, qp=BASE_QP, changed=unchanged)
    assert len(data) < 40


def test_refinement_sharpens_only_the_tiles_it_names() -> None:
    """Refining the top half at the fine quantizer raises its PSNR past 45 dB and leaves
    the bottom half's pixels exactly as they were."""
    session = Session()
    source = text_like()
    picture = picture_of(source)
    rgb = source[..., 2::-1]
    _, base = session.send(picture, qp=BASE_QP, keyframe=True)
    top = np.zeros((picture.tile_rows, picture.tile_cols), dtype=np.bool_)
    top[: picture.tile_rows // 2] = True
    split = picture.tile_rows // 2 * TILE
    unchanged = np.zeros_like(top)
    _, refined = session.send(picture, qp=BASE_QP, refine=top, changed=unchanged)
    assert psnr(rgb[:split], base[:split]) < 44
    assert psnr(rgb[:split], refined[:split]) >= 45
    assert np.array_equal(base[split:], refined[split:])
    assert REFINE_QP < BASE_QP


def test_the_picture_follows_changes_in_place() -> None:
    """A changed region is encoded as a P frame and decodes to the new pixels."""
    session = Session()
    source = text_like()
    picture = picture_of(source)
    session.send(picture, qp=BASE_QP, keyframe=True)
    source[100:140, 200:300, :3] = (20, 40, 200)
    changed = picture.update(
        lambda r: source[r.y : r.y + r.h, r.x : r.x + r.w], Rect(200, 100, 100, 40)
    )
    assert changed.sum() == 21  # 7 x 3 tiles of 16 px (rows 96..143, columns 192..303)
    _, decoded = session.send(picture, qp=BASE_QP, changed=changed)
    assert np.abs(decoded[110:130, 210:290].astype(int) - (200, 40, 20)).max() < 12


def test_mb_info_is_enabled_on_this_library() -> None:
    """The neighbour-field search finds analyse.b_mb_info in the bundled libx264."""
    assert Session().encoder._x264.mb_info


def scrolled_frame_sizes(page: np.ndarray, search: Search | None, step: int) -> list[int]:
    """Bytes of four frames, each the window moved ``step`` rows further down ``page``."""
    session = Session()
    picture = ScreenPicture(W, H)
    top = [0]

    def grab(r: Rect) -> np.ndarray:
        return page[top[0] + r.y : top[0] + r.y + r.h, r.x : r.x + r.w]

    picture.update(grab)
    session.send(picture, qp=BASE_QP, keyframe=True)
    if search is not None:
        session.encoder.set_search(search)
    sizes = []
    for _ in range(4):
        top[0] += step
        changed = picture.update(grab)
        data, decoded = session.send(picture, qp=BASE_QP, changed=changed)
        assert set(nal_types(data)) == {1}  # non-IDR slices only: no keyframe
        sizes.append(len(data))
        assert psnr(decoded, picture.bgra[..., 2::-1]) > 30
    return sizes


def test_a_wide_motion_search_codes_a_fast_scroll_as_motion_not_as_new_pixels() -> None:
    """The cause of the fast-scroll collapse: ultrafast's diamond search loses a 40-row
    move and codes the frame almost as intra; umh (set mid-stream, no keyframe) finds it."""
    page = np.concatenate([text_like(s) for s in (1, 2, 3)])
    narrow = sorted(scrolled_frame_sizes(page, None, 40))[1]
    wide = sorted(scrolled_frame_sizes(page, Search("umh", 64), 40))[1]
    assert wide * 4 < narrow

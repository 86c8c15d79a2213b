"""H.264 for screens: our own x264 (``x264.py``), every frame at a quantizer we choose.

Why our own encoder (../shared/DESIGN.md): aiortc's built-in H.264 encoder forces level 3.1,
preset medium and at most 3 Mbit/s, and rebuilds itself (a keyframe) on every bitrate step.
The agent encodes and hands aiortc ready packets. x264 runs ultrafast + zerolatency,
constrained baseline, no B frames, no periodic keyframes; the quantizer of every frame comes
from ``rate_control.py`` (x264's CRF mode is set only because forced quantizers are honoured
in it, not in its constant-QP mode). The level comes from the picture size and frame rate
(4.2 for 1080p60), in the SPS and in the SDP answer (``negotiation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

import av
import numpy as np
import numpy.typing as npt

from host_agent.video.motion_search import DEFAULT as DEFAULT_SEARCH
from host_agent.video.motion_search import Search
from host_agent.video.x264 import Encoder, Planes

# An encoded packet; its stream is unused because packets go to aiortc, not a muxer.
if TYPE_CHECKING:
    VideoPacket = av.Packet[Any]
else:  # PyAV's Packet is generic only in its type stubs
    VideoPacket = av.Packet

# RTP video clock (RFC 6184 / RFC 7741): timestamps are in 1/90000 s.
VIDEO_TIME_BASE: Final = Fraction(1, 90_000)
# Text at ~42 dB (1280x720 dense text, measured): what a change is first shown at.
BASE_QP: Final = 20
# A refinement pass from BASE_QP to 11 brings that text to ~46 dB (QP 12: 45.8, 10: 46.9).
REFINE_QP: Final = 11


@dataclass(frozen=True)
class Level:
    """An H.264 level: its name for x264 and its level_idc for profile-level-id."""

    name: str
    idc: int
    max_frame_mbs: int
    max_mbs_per_s: int


# ITU-T H.264 Table A-1, from 3.1 up (every browser decodes at least 3.1).
LEVELS: Final = (
    Level("3.1", 31, 3_600, 108_000),
    Level("3.2", 32, 5_120, 216_000),
    Level("4", 40, 8_192, 245_760),
    Level("4.2", 42, 8_704, 522_240),
    Level("5.1", 51, 36_864, 983_040),
    Level("5.2", 52, 36_864, 2_073_600),
)


def h264_level(width: int, height: int, fps: int) -> Level:
    """The lowest level (3.1 or above) that allows this picture size at this frame rate.

    Raises:
        ValueError: nothing up to level 5.2 does.
    """
    mbs = -(-width // 16) * -(-height // 16)
    for level in LEVELS:
        if mbs <= level.max_frame_mbs and mbs * fps <= level.max_mbs_per_s:
            return level
    raise ValueError(f"{width}x{height} at {fps} fps exceeds H.264 level 5.2")


class H264Encoder:
    """x264 tuned for screens: ultrafast, zerolatency, constrained baseline, IDR on request."""

    def __init__(self, width: int, height: int, max_fps: int) -> None:
        self.width = width
        self.height = height
        self.level = h264_level(width, height, max_fps)
        self._x264 = Encoder(
            width,
            height,
            {
                "preset": "ultrafast",
                "tune": "zerolatency",
                # Constrained Baseline: what every browser's WebRTC H.264 decoder accepts.
                "profile": "baseline",
                "level": self.level.name,
                # Constant frame rate as far as x264 knows: with variable-rate timestamps
                # it holds each frame back until the next one arrives, to learn its
                # duration (a whole frame of latency). Rate control is ours anyway.
                "fps": str(max_fps),
                # No periodic keyframes: a keyframe of a text screen is ~350 kB; loss is
                # repaired with NACK/RTX and, failing that, an IDR on PLI.
                "keyint": "infinite",
                "scenecut": "0",
                "bframes": "0",
                "crf": str(BASE_QP),
                # Adaptive quantization at (almost) zero strength: x264 then honours the
                # per-macroblock offsets a refinement uses to re-code only settled tiles,
                # without its own variance offsets (which cost dense text ~4 dB).
                "aq-mode": "1",
                "aq-strength": "0.0001",
                # SPS/PPS before every IDR, in Annex B: what aiortc's packetizer expects.
                "repeat-headers": "1",
                "annexb": "1",
                # swscale's BGRA -> yuv420p is BT.601, limited range: say so, or a browser
                # may decode colours with BT.709.
                "colormatrix": "smpte170m",
                "colorprim": "smpte170m",
                "transfer": "smpte170m",
                "fullrange": "off",
                "log": "0",  # errors only: x264's info lines are not the agent's log
            },
            mb_info=True,
        )
        self._index = 0
        self.search = DEFAULT_SEARCH

    def set_search(self, search: Search) -> None:
        """Search motion with ``search`` from the next frame on (``motion_search.py``)."""
        if search != self.search:
            self._x264.reconfigure({"me": search.method, "merange": str(search.merange)})
            self.search = search

    def encode(
        self,
        planes: Planes,
        pts: int,
        *,
        qp: int,
        keyframe: bool = False,
        refine: npt.NDArray[np.bool_] | None = None,
        refine_qp: int = REFINE_QP,
        changed: npt.NDArray[np.bool_] | None = None,
        floor_qp: npt.NDArray[np.int16] | None = None,
    ) -> list[VideoPacket]:
        """Encode the picture at quantizer ``qp``, the ``refine`` tiles at ``refine_qp``.

        ``changed`` (tiles whose pixels changed since the last frame) lets x264 skip the
        others outright. ``floor_qp`` (0 for none) is the finest quantizer per tile, above
        ``qp``: a page the lossless tiles will cover, coded coarse, and kept so while it
        stays: x264 skips a constant macroblock only if its reference was coded no finer
        than now, and otherwise re-analyses it and may spend bytes sharpening it (a page
        coded coarse, then a keep-alive at ``BASE_QP``: 260 kB for a 720p screen of text).
        ``pts`` is in 1/90000 s; tile masks are the macroblock grid. One packet or none.
        """
        offsets = None
        constant = None
        if floor_qp is not None:
            lift = np.maximum(floor_qp.astype(np.float32) - qp, 0.0)
            if lift.any():
                offsets = lift.ravel()
        if refine is not None and refine.any():
            refined = np.where(refine, float(refine_qp - qp), 0.0).astype(np.float32).ravel()
            offsets = refined if offsets is None else np.where(refine.ravel(), refined, offsets)
        if changed is not None and not keyframe:
            moving = changed if refine is None else changed | refine
            constant = (~moving).astype(np.uint8).ravel()
        encoded = self._x264.encode(
            planes, self._index, idr=keyframe, qp=qp, quant_offsets=offsets, constant=constant
        )
        self._index += 1
        if not encoded.data:
            return []
        packet = av.Packet(encoded.data)
        packet.pts = pts
        packet.dts = pts
        packet.time_base = VIDEO_TIME_BASE
        packet.is_keyframe = encoded.keyframe
        return [packet]

    def close(self) -> None:
        self._x264.close()

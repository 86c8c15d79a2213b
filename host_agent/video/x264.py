"""A small ctypes binding of libx264: what PyAV's wrapper cannot do is force a quantizer.

Through libavcodec a frame's quantizer cannot be chosen, and its rate control can only be
bounded by a VBV that is also silently undone when set through ``x264-params`` (libavcodec's
``reconfig_encoder`` copies its own zero ``rc_buffer_size`` over it on the first frame). The
agent picks every frame's quantizer itself (``rate_control.py``: the REMB budget, and a fine
quantizer for the refinement that makes settled text sharp), so it drives libx264 directly.

It also tells x264 which macroblocks did not change (``mb_info``), so it skips them without
analysis (~30 % of the encode time of a mostly static 1080p frame, measured).

The library is the one PyAV's wheel bundles (``av.libs``), else the system's. The API is
versioned by ``X264_BUILD`` in the symbol ``x264_encoder_open_<build>``; the structures used
here (``x264_picture_t`` up to its image properties, ``x264_nal_t``, and the head of
``x264_param_t``) have kept this layout since build 153, which this module requires. The
rest of ``x264_param_t`` goes through ``x264_param_parse``, with one exception:
``analyse.b_mb_info`` has no parameter name, so it is found by its neighbours, the two
deadzone fields that do (``_mb_info_offset``); if they are not found exactly once, mb_info
stays off. A layout check after ``x264_param_default_preset`` refuses a library whose head
fields are not where they are expected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from host_agent.errors import EncoderError

MIN_BUILD: Final = 153
MAX_BUILD: Final = 200
X264_CSP_I420: Final = 0x0002
X264_TYPE_AUTO: Final = 0
X264_TYPE_IDR: Final = 1
X264_TYPE_P: Final = 5
X264_MBINFO_CONSTANT: Final = 1
# Far larger than x264_param_t (about 1 KiB) and x264_picture_t (about 0.3 KiB) in any
# build: libx264 fills these buffers; Python reads only the documented head fields.
_PARAM_BYTES: Final = 16384
_PICTURE_BYTES: Final = 4096


class _ParamHead(ctypes.Structure):
    _fields_ = (
        ("cpu", ctypes.c_uint32),
        ("i_threads", ctypes.c_int),
        ("i_lookahead_threads", ctypes.c_int),
        ("b_sliced_threads", ctypes.c_int),
        ("b_deterministic", ctypes.c_int),
        ("b_cpu_independent", ctypes.c_int),
        ("i_sync_lookahead", ctypes.c_int),
        ("i_width", ctypes.c_int),
        ("i_height", ctypes.c_int),
        ("i_csp", ctypes.c_int),
        ("i_bitdepth", ctypes.c_int),
        ("i_level_idc", ctypes.c_int),
    )


class _Image(ctypes.Structure):
    _fields_ = (
        ("i_csp", ctypes.c_int),
        ("i_plane", ctypes.c_int),
        ("i_stride", ctypes.c_int * 4),
        ("plane", ctypes.c_void_p * 4),
    )


class _ImageProperties(ctypes.Structure):
    _fields_ = (
        ("quant_offsets", ctypes.c_void_p),
        ("quant_offsets_free", ctypes.c_void_p),
        ("mb_info", ctypes.c_void_p),
        ("mb_info_free", ctypes.c_void_p),
    )


class _Picture(ctypes.Structure):
    _fields_ = (
        ("i_type", ctypes.c_int),
        ("i_qpplus1", ctypes.c_int),
        ("i_pic_struct", ctypes.c_int),
        ("b_keyframe", ctypes.c_int),
        ("i_pts", ctypes.c_int64),
        ("i_dts", ctypes.c_int64),
        ("param", ctypes.c_void_p),
        ("img", _Image),
        ("prop", _ImageProperties),
    )


class _Nal(ctypes.Structure):
    _fields_ = (
        ("i_ref_idc", ctypes.c_int),
        ("i_type", ctypes.c_int),
        ("b_long_startcode", ctypes.c_int),
        ("i_first_mb", ctypes.c_int),
        ("i_last_mb", ctypes.c_int),
        ("i_payload", ctypes.c_int),
        ("p_payload", ctypes.c_void_p),
        ("i_padding", ctypes.c_int),
    )


@dataclass(frozen=True)
class Library:
    """A loaded libx264 and its API build number."""

    cdll: ctypes.CDLL
    build: int
    path: str


# Where PyAV's wheels put libx264, relative to site-packages (the Windows wheels' test checks
# the last one against the published win_amd64 wheel): Linux av.libs, macOS av/.dylibs,
# Windows av.libs (delvewheel).
WHEEL_PATTERNS: Final = ("av.libs/libx264*", "av/.dylibs/libx264*", "av.libs/*x264*.dll")


def _candidates() -> list[str]:
    paths: list[str] = []
    try:
        import av

        base = os.path.dirname(os.path.dirname(av.__file__))
        for pattern in WHEEL_PATTERNS:
            paths += sorted(glob.glob(os.path.join(base, pattern)))
    except ImportError:
        pass
    system = ctypes.util.find_library("x264")
    if system:
        paths.append(system)
    return paths


def _build_of(cdll: ctypes.CDLL) -> int | None:
    for build in range(MAX_BUILD, MIN_BUILD - 1, -1):
        if hasattr(cdll, f"x264_encoder_open_{build}"):
            return build
    return None


_loaded: Library | None = None


def load() -> Library:
    """Load libx264 once per process.

    Raises:
        EncoderError: no libx264 of a supported build was found.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    tried = []
    for path in _candidates():
        try:
            cdll = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path}: {exc}")
            continue
        build = _build_of(cdll)
        if build is None:
            tried.append(f"{path}: not an x264 build {MIN_BUILD}..{MAX_BUILD}")
            continue
        _declare(cdll, build)
        _loaded = Library(cdll, build, path)
        return _loaded
    raise EncoderError(
        "libx264 (build >= 153) not found; install PyAV's wheel or the system libx264"
        + (f" (tried: {'; '.join(tried)})" if tried else "")
    )


def _declare(cdll: ctypes.CDLL, build: int) -> None:
    p = ctypes.c_void_p
    cdll.x264_param_default_preset.argtypes = (p, ctypes.c_char_p, ctypes.c_char_p)
    cdll.x264_param_parse.argtypes = (p, ctypes.c_char_p, ctypes.c_char_p)
    cdll.x264_param_apply_profile.argtypes = (p, ctypes.c_char_p)
    cdll.x264_picture_init.argtypes = (p,)
    cdll.x264_picture_init.restype = None
    opener = getattr(cdll, f"x264_encoder_open_{build}")
    opener.argtypes = (p,)
    opener.restype = p
    cdll.x264_encoder_encode.argtypes = (
        p, ctypes.POINTER(ctypes.POINTER(_Nal)), ctypes.POINTER(ctypes.c_int), p, p,
    )  # fmt: skip
    cdll.x264_encoder_close.argtypes = (p,)
    cdll.x264_encoder_close.restype = None
    cdll.x264_encoder_reconfig.argtypes = (p, p)


def _mb_info_offset(lib: ctypes.CDLL, param: ctypes.Array[ctypes.c_char]) -> int | None:
    """Byte offset of ``analyse.b_mb_info`` in ``param``, or None if it cannot be located.

    In every build since 153 the analyse struct ends ``b_mb_info, b_mb_info_update,
    i_luma_deadzone[2]``. The deadzones can be set by name: two unlikely values set in a copy
    of the parameters show where they are, and b_mb_info sits two ints before them.
    """
    probe = ctypes.create_string_buffer(param.raw, len(param))
    if (
        lib.x264_param_parse(probe, b"deadzone-inter", b"29") != 0
        or lib.x264_param_parse(probe, b"deadzone-intra", b"27") != 0
    ):
        return None
    ints = np.frombuffer(probe.raw, dtype=np.int32)
    hits = np.flatnonzero((ints[:-1] == 29) & (ints[1:] == 27))
    if len(hits) != 1 or hits[0] < 2:
        return None
    return int(hits[0] - 2) * 4


@dataclass(frozen=True)
class Planes:
    """Addresses and strides of an I420 picture's three planes (kept alive by the caller)."""

    y: int
    u: int
    v: int
    y_stride: int
    uv_stride: int


@dataclass(frozen=True)
class EncodedFrame:
    data: bytes
    keyframe: bool


class Encoder:
    """One x264 encoder: I420 in, Annex B access units out (SPS/PPS before each IDR)."""

    def __init__(
        self, width: int, height: int, params: dict[str, str], *, mb_info: bool = False
    ) -> None:
        """Open an encoder.

        Args:
            width: even picture width.
            height: even picture height.
            params: ``x264_param_parse`` names and values, applied after the preset
                (``preset``, ``tune`` and ``profile`` are taken out and handled by x264's
                own preset and profile functions).
            mb_info: accept per-macroblock "unchanged" flags in ``encode`` (if this
                library's layout allows it: see ``self.mb_info``).

        Raises:
            EncoderError: the library is missing, a parameter is refused, or the encoder
                cannot be opened.
        """
        lib = load()
        self._lib = lib.cdll
        self.width = width
        self.height = height
        self._param = ctypes.create_string_buffer(_PARAM_BYTES)
        settings = dict(params)
        preset = settings.pop("preset", "ultrafast").encode()
        tune = settings.pop("tune", "zerolatency").encode()
        profile = settings.pop("profile", "baseline").encode()
        if self._lib.x264_param_default_preset(self._param, preset, tune) != 0:
            raise EncoderError(f"x264 refused preset {preset!r} / tune {tune!r}")
        head = _ParamHead.from_buffer(self._param)
        # The layout check: a fresh preset has no size, I420 and 8 bits (or 0 in a
        # library built for several depths). Anything else means other offsets.
        if head.i_width != 0 or head.i_csp != X264_CSP_I420 or head.i_bitdepth not in (0, 8):
            raise EncoderError(f"unexpected x264_param_t layout in build {lib.build}")
        head.i_width = width
        head.i_height = height
        head.i_bitdepth = 8
        for name, value in settings.items():
            self._set(name, value)
        self.mb_info = False
        if mb_info:
            offset = _mb_info_offset(self._lib, self._param)
            if offset is not None:
                ctypes.c_int.from_buffer(self._param, offset).value = 1
                self.mb_info = True
        if self._lib.x264_param_apply_profile(self._param, profile) != 0:
            raise EncoderError(f"x264 refused profile {profile!r}")
        opener = getattr(self._lib, f"x264_encoder_open_{lib.build}")
        handle = opener(self._param)
        if not handle:
            raise EncoderError("x264 could not open an encoder with these parameters")
        self._handle: int | None = handle
        self._picture = ctypes.create_string_buffer(_PICTURE_BYTES)
        self._picture_out = ctypes.create_string_buffer(_PICTURE_BYTES)
        self._nals = ctypes.POINTER(_Nal)()
        self._nal_count = ctypes.c_int()

    def _set(self, name: str, value: str) -> None:
        if self._lib.x264_param_parse(self._param, name.encode(), value.encode()) != 0:
            raise EncoderError(f"x264 refused parameter {name}={value}")

    def reconfigure(self, params: dict[str, str]) -> None:
        """Change parameters of the open encoder (``x264_encoder_reconfig``: no keyframe).

        Only what x264 allows to change mid-stream takes effect (motion search method and
        range among them); the values are also kept for any later reconfiguration.

        Raises:
            EncoderError: a parameter is refused, or the encoder is closed.
        """
        if self._handle is None:
            raise EncoderError("the encoder is closed")
        for name, value in params.items():
            self._set(name, value)
        if self._lib.x264_encoder_reconfig(self._handle, self._param) < 0:
            raise EncoderError(f"x264 refused to reconfigure with {params}")

    def encode(
        self,
        planes: Planes,
        pts: int,
        *,
        idr: bool = False,
        qp: int = 0,
        quant_offsets: npt.NDArray[np.float32] | None = None,
        constant: npt.NDArray[np.uint8] | None = None,
    ) -> EncodedFrame:
        """Encode one picture.

        Args:
            planes: the I420 picture; x264 copies it before returning.
            pts: strictly increasing presentation index.
            idr: force an IDR (keyframe) picture.
            qp: force this quantizer for the picture (0: rate control decides).
            quant_offsets: one float per macroblock (row-major) added to its quantizer;
                needs adaptive quantization enabled (``aq-mode``); read during this call.
            constant: one byte per macroblock, 1 where the picture did not change since the
                last frame (x264 then skips it, unless the reference was coded coarser than
                this frame's quantizer); ignored unless ``self.mb_info``.

        Raises:
            EncoderError: x264 failed, or the encoder is closed.
        """
        if self._handle is None:
            raise EncoderError("the encoder is closed")
        self._lib.x264_picture_init(self._picture)
        picture = _Picture.from_buffer(self._picture)
        picture.img.i_csp = X264_CSP_I420
        picture.img.i_plane = 3
        picture.img.i_stride[0] = planes.y_stride
        picture.img.i_stride[1] = planes.uv_stride
        picture.img.i_stride[2] = planes.uv_stride
        picture.img.plane[0] = planes.y
        picture.img.plane[1] = planes.u
        picture.img.plane[2] = planes.v
        picture.i_pts = pts
        picture.i_type = X264_TYPE_IDR if idr else X264_TYPE_AUTO
        picture.i_qpplus1 = qp + 1 if qp > 0 else 0
        if quant_offsets is not None:
            mbs = -(-self.width // 16) * -(-self.height // 16)
            if quant_offsets.dtype != np.float32 or quant_offsets.size != mbs:
                raise EncoderError(f"quant_offsets must be {mbs} float32 values")
            quant_offsets = np.ascontiguousarray(quant_offsets)
            picture.prop.quant_offsets = quant_offsets.ctypes.data
        if constant is not None and self.mb_info:
            mbs = -(-self.width // 16) * -(-self.height // 16)
            if constant.dtype != np.uint8 or constant.size != mbs:
                raise EncoderError(f"constant must be {mbs} uint8 values")
            constant = np.ascontiguousarray(constant)
            picture.prop.mb_info = constant.ctypes.data
        size = self._lib.x264_encoder_encode(
            self._handle,
            ctypes.byref(self._nals),
            ctypes.byref(self._nal_count),
            self._picture,
            self._picture_out,
        )
        if size < 0:
            raise EncoderError(f"x264_encoder_encode failed ({size})")
        if size == 0:
            return EncodedFrame(b"", False)
        # x264 guarantees the payloads of one call are contiguous, starting at the first.
        data = ctypes.string_at(self._nals[0].p_payload, size)
        keyframe = bool(_Picture.from_buffer(self._picture_out).b_keyframe)
        return EncodedFrame(data, keyframe)

    def close(self) -> None:
        if self._handle is not None:
            self._lib.x264_encoder_close(self._handle)
            self._handle = None

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None and sys is not None:
            self.close()

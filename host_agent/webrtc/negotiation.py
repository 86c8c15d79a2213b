"""What the agent's SDP answer says about video, beyond aiortc's defaults.

- **Codecs**: H.264 first (our x264), VP8 (aiortc's encoder) as the fallback, RTX kept so
  lost packets are retransmitted; H.264 is left out when no usable libx264 is found.
- **Level**: aiortc answers every H.264 offer with level 3.1 (profile-level-id 42e01f),
  which is too low for 1280x720 at 60 fps and far too low for 1920x1080. The answer's
  profile-level-id carries the level our encoder writes in its SPS (``encoder.h264_level``);
  both sides offer level-asymmetry-allowed=1, so it may differ from the browser's offer.
- **Playout delay**: when the browser offers the ``playout-delay`` RTP header extension, the
  answer accepts it and every packet carries min = max = 0: the browser then decodes and
  shows each frame as soon as it is complete, with no smoothing buffer (a remote desktop
  wants the newest picture, not a fluid one). aiortc knows nothing of this extension, so the
  sender's extension map is replaced by one that writes it. The same map writes a
  transport-wide sequence number placeholder (transport-cc, ``congestion_control.py``).

These reach into aiortc's transceiver and sender internals (``_codecs``,
``_headerExtensions``, the sender's extension map); the integration tests check the
resulting SDP and packets against the aiortc version pinned in pyproject.toml.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from aiortc import RTCRtpCodecCapability, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    HeaderExtensions,
    HeaderExtensionsMap,
    pack_header_extensions,
    unpack_header_extensions,
)

from host_agent.video.encoder import Level

PLAYOUT_DELAY_URI: Final = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
# min = max = 0 (12 bits each, in 10 ms units): render as soon as decoded.
PLAYOUT_DELAY_ZERO: Final = b"\x00\x00\x00"


def preferred_codecs(h264: bool = True) -> list[RTCRtpCodecCapability]:
    """H.264 first (if we can encode it), VP8 next, RTX kept for loss repair."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    rank = {"video/h264": 0, "video/vp8": 1, "video/rtx": 2}
    kept = [c for c in codecs if h264 or c.mimeType.lower() != "video/h264"]
    return sorted(kept, key=lambda c: rank.get(c.mimeType.lower(), 3))


def profile_level_id(current: str, level: Level) -> str:
    """``current`` (e.g. "42e01f") with its level byte replaced by ``level``'s."""
    if len(current) != 6:
        raise ValueError(f"not a profile-level-id: {current!r}")
    return f"{current[:4]}{level.idc:02x}"


def apply_level(transceiver: RTCRtpTransceiver, level: Level) -> None:
    """Advertise ``level`` in the H.264 codecs the answer will list (after setRemote)."""
    for codec in transceiver._codecs:
        if codec.mimeType.lower() == "video/h264":
            current = str(codec.parameters.get("profile-level-id", "42e01f"))
            codec.parameters["profile-level-id"] = profile_level_id(current, level)


def accept_playout_delay(transceiver: RTCRtpTransceiver, offered: list[Any]) -> bool:
    """Keep the offer's playout-delay extension in the answer; True if it was offered.

    Args:
        offered: the offer's header extensions for this m-line (RTCRtpHeaderExtensionParameters).
    """
    for ext in offered:
        if ext.uri == PLAYOUT_DELAY_URI:
            if all(e.uri != PLAYOUT_DELAY_URI for e in transceiver._headerExtensions):
                transceiver._headerExtensions.append(
                    RTCRtpHeaderExtensionParameters(id=ext.id, uri=ext.uri)
                )
            return True
    return False


class PlayoutDelayExtensionsMap(HeaderExtensionsMap):
    """aiortc's header extension map, plus playout-delay = 0 on every packet when negotiated."""

    def __init__(self) -> None:
        super().__init__()
        self.playout_delay_id: int | None = None

    def configure(self, parameters: RTCRtpParameters) -> None:
        super().configure(parameters)
        for ext in parameters.headerExtensions:
            if ext.uri == PLAYOUT_DELAY_URI:
                self.playout_delay_id = ext.id

    def set(self, values: HeaderExtensions) -> tuple[int, bytes]:
        if values.transport_sequence_number is None:
            # A placeholder (written only if transport-cc was negotiated): the real number
            # is stamped when the packet leaves the pacer (congestion_control.py).
            values = dataclasses.replace(values, transport_sequence_number=0)
        profile, data = super().set(values)
        if self.playout_delay_id is None:
            return profile, data
        extensions = unpack_header_extensions(profile, data) if data else []
        extensions.append((self.playout_delay_id, PLAYOUT_DELAY_ZERO))
        return pack_header_extensions(extensions)


def install_playout_delay(sender: RTCRtpSender) -> PlayoutDelayExtensionsMap:
    """Give ``sender`` the extension map above (before it starts sending)."""
    extensions = PlayoutDelayExtensionsMap()
    # Name-mangled private attribute of RTCRtpSender: the map its packets are written with.
    sender._RTCRtpSender__rtp_header_extensions_map = extensions  # type: ignore[attr-defined]
    return extensions

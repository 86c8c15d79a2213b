"""SDP policy: the only sessions Mamori negotiates are one video stream and one data channel.

Checked by the broker on every offer and answer it relays, and again by the agent on the
offer it receives and the answer it makes (fail closed at each hop). Sans-I/O and stdlib
only, like the rest of ``mamori_protocol``.

The browser offers (it opens the ``input`` channel), so a valid session is::

    offer  (browser): m=video ... a=recvonly      m=application ... webrtc-datachannel
    answer (agent)  : m=video ... a=sendonly      m=application ... webrtc-datachannel

Anything else is refused: audio, a second video, a video the host would receive, a rejected
(port 0) section, another transport. Data channels themselves are not in the SDP (they are
all carried by the one SCTP association); the agent refuses any channel but ``input``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from mamori_protocol.errors import SdpPolicyError

_DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})
# RFC 8841: SCTP over DTLS over UDP (or ICE-TCP); the legacy "DTLS/SCTP 5000" form is
# refused, since every browser this product supports uses the current one.
_SCTP_PROTOS: Final = frozenset({"UDP/DTLS/SCTP", "TCP/DTLS/SCTP"})
_VIDEO_PROTOS: Final = frozenset({"UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "TCP/TLS/RTP/SAVPF"})


class SdpRole(Enum):
    """Which side wrote the description, which fixes the direction its video must have."""

    OFFER_FROM_VIEWER = "recvonly"
    ANSWER_FROM_HOST = "sendonly"


@dataclass(frozen=True)
class MediaSection:
    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    direction: str


def parse_media_sections(sdp: str) -> list[MediaSection]:
    """The m-sections of ``sdp`` with their effective direction.

    Raises:
        SdpPolicyError: an m= line is malformed.
    """
    session_direction = "sendrecv"
    drafts: list[tuple[str, int, str, tuple[str, ...]]] = []
    directions: list[str | None] = []
    for raw_line in sdp.splitlines():
        line = raw_line.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            port = parts[1].split("/")[0] if len(parts) >= 4 else ""
            if not port.isdigit() or len(port) > 5:
                raise SdpPolicyError(f"malformed media line: {line[:60]!r}")
            drafts.append((parts[0], int(port), parts[2], tuple(parts[3:])))
            directions.append(None)
        elif line.startswith("a=") and line[2:] in _DIRECTIONS:
            if directions:
                directions[-1] = line[2:]
            else:
                session_direction = line[2:]
    return [
        MediaSection(kind, port, proto, formats, direction or session_direction)
        for (kind, port, proto, formats), direction in zip(drafts, directions, strict=True)
    ]


def check_session_description(sdp: str, role: SdpRole) -> None:
    """Refuse any description but one video in ``role``'s direction plus one data channel.

    Raises:
        SdpPolicyError: naming the first rule broken.
    """
    sections = parse_media_sections(sdp)
    video = [s for s in sections if s.kind == "video"]
    application = [s for s in sections if s.kind == "application"]
    others = sorted({s.kind for s in sections} - {"video", "application"})
    if others:
        raise SdpPolicyError(f"media not allowed: {', '.join(others)}")
    if len(video) != 1:
        raise SdpPolicyError(f"exactly one video section is allowed, found {len(video)}")
    if len(application) != 1:
        raise SdpPolicyError(
            f"exactly one data channel section is allowed, found {len(application)}"
        )
    (v,) = video
    (a,) = application
    if v.port == 0 or a.port == 0:
        raise SdpPolicyError("a rejected (port 0) media section is not allowed")
    if v.direction != role.value:
        raise SdpPolicyError(f"video must be {role.value}, not {v.direction}")
    if v.proto not in _VIDEO_PROTOS:
        raise SdpPolicyError(f"video transport {v.proto} is not allowed")
    if a.proto not in _SCTP_PROTOS or a.formats != ("webrtc-datachannel",):
        raise SdpPolicyError("the data section must be one SCTP webrtc-datachannel")

"""Smallest session descriptions the SDP policy accepts, for signaling without peers (tests,
the set-up benchmark)."""

from __future__ import annotations

_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
_DATA = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"


def _video(direction: str) -> str:
    return f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na={direction}\r\n"


VIEWER_OFFER = _HEAD + _video("recvonly") + _DATA
HOST_ANSWER = _HEAD + _video("sendonly") + _DATA

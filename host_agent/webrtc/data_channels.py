"""Data on SCTP streams no data channel was opened for, refused.

A session admits one data channel, labelled ``input`` (``channel_policy.check_channel_label``
refuses any other as it opens). A hostile page could instead send on a stream it never
announced (a channel "negotiated out of band"): aiortc drops such data silently, and the
agent reports it as a violation instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from aiortc import RTCPeerConnection

from host_agent.input.channel_policy import PolicyViolation, Violation

# RFC 8832: the payload protocol id of the channel-opening protocol (DCEP).
_WEBRTC_DCEP: Final = 50


def refuse_unannounced_streams(
    pc: RTCPeerConnection, on_violation: Callable[[PolicyViolation], None]
) -> None:
    """Drop data on streams no channel was opened for and call ``on_violation`` the first
    time (once per peer connection); call after the remote description is applied.

    aiortc has no hook for this; its transport's ``_receive`` is wrapped on this one
    peer connection, as the keyframe hook wraps the sender (tests pin the behaviour).
    """
    sctp = pc.sctp
    if sctp is None:
        return
    original = sctp._receive
    seen = False

    async def receive(stream_id: int, pp_id: int, data: bytes) -> None:
        nonlocal seen
        if pp_id != _WEBRTC_DCEP and stream_id not in sctp._data_channels:
            if not seen:
                seen = True
                on_violation(
                    PolicyViolation(
                        Violation.FOREIGN_CHANNEL, f"data on unannounced stream {stream_id}"
                    )
                )
            return
        await original(stream_id, pp_id, data)

    sctp._receive = receive  # type: ignore[method-assign]  # the hook itself

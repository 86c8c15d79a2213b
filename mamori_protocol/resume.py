"""Messages that carry a live session across a broker restart (issue 18).

Media is peer-to-peer, so a session need not end when the broker's process does: the agent
keeps its peer connection (and enforces the session's limits itself meanwhile), and when its
link is back it re-registers the session (``session_resume``); the broker re-adopts it by
policy (``session_resumed``) or ends it with a ``bye`` naming the real reason. The browser's
page holds the session's resume secret (``resume_token``, handed out at the start and after
every resume, in page memory only) and presents it once on a new signaling socket
(``viewer_resume``); the broker checks it against the browser session and device the
session was opened from and replaces it, so each secret serves one reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

# 32 bytes from the OS CSPRNG, URL-safe base64 without padding.
RESUME_TOKEN_CHARS: Final = 43


@dataclass(frozen=True, slots=True)
class SessionResume:
    """The agent's live session, re-registered on a new link: which session, who it was
    shown to (``viewer_id``, as in its ``session_start``), and how long it has run."""

    TYPE: ClassVar[str] = "session_resume"
    session_id: str
    viewer_id: str
    elapsed_s: int


# Why a kept session can end on the agent while no broker hears it: its peer connection
# failed or closed (the viewer's network, or the page gone), or the screen could no longer
# be captured. The agent's own words (PeerSession), so the audit can say what happened.
LOST_REASONS: Final = frozenset({"peer_failed", "peer_closed", "capture_failed"})


@dataclass(frozen=True, slots=True)
class SessionLost:
    """A kept session that ended while the broker was away, told on the next link: which,
    shown to whom, how long it ran, and why it ended (one of ``LOST_REASONS``). Without it
    the broker could only record the end as the restart's (``broker_crashed``)."""

    TYPE: ClassVar[str] = "session_lost"
    session_id: str
    viewer_id: str
    elapsed_s: int
    reason: str


@dataclass(frozen=True, slots=True)
class SessionResumed:
    """The broker re-adopted the agent's session: signaling, limits and ends apply again."""

    TYPE: ClassVar[str] = "session_resumed"
    session_id: str


@dataclass(frozen=True, slots=True)
class ResumeToken:
    """Broker -> viewer: the secret with which this page may take the session's signaling
    back after the broker restarted (single use; a new one comes after each resume)."""

    TYPE: ClassVar[str] = "resume_token"
    token: str


@dataclass(frozen=True, slots=True)
class ViewerResume:
    """Viewer -> broker, first message on ``/ws/viewer/resume``: the page's resume secret."""

    TYPE: ClassVar[str] = "viewer_resume"
    token: str

"""What the relay pairs and tracks: peers, agent links, sessions, and the views of them the
console lists. Plain data (no socket, no policy), so the relay and its endpoints share one
vocabulary and tests build sessions without a network.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from broker.access.remote_policy import RemotePolicy
from mamori_protocol.candidates import CandidateBudget


class Peer(Protocol):
    """One end of a signaling WebSocket, as the relay sees it."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class SessionEvents(Protocol):
    """What the relay reports for the audit trail (the app writes it to the database)."""

    async def started(self, session: Session) -> None: ...

    async def ended(self, session: Session, reason: str) -> None: ...

    async def violation(self, session: Session, violation: str, detail: str) -> None: ...

    async def idle(self, session: Session) -> None:
        """The session was idle past its limit: its browser session must show the second
        factor again (クリアスクリーン). Awaited before the session is let go."""
        ...


class _NoEvents:
    async def started(self, session: Session) -> None:
        return None

    async def ended(self, session: Session, reason: str) -> None:
        return None

    async def violation(self, session: Session, violation: str, detail: str) -> None:
        return None

    async def idle(self, session: Session) -> None:
        return None


@dataclass(frozen=True)
class ViewerIdentity:
    """Who looks at the host: burned into the watermark and shown on the host's banner,
    with the time in the clinic's zone (``time_zone``; None: the agent's default)."""

    user_id: int
    username: str
    display_name: str
    organization: str
    time_zone: str | None = None


@dataclass(eq=False)
class AgentLink:
    """A connected host agent."""

    org_id: int
    host_id: str
    name: str
    version: str
    peer: Peer
    session: Session | None = None
    # The client certificate the link authenticated with (hex serial): revoking it ends
    # the link.
    certificate_serial: str = ""


@dataclass(eq=False)
class Session:
    """One viewer paired with one agent."""

    agent: AgentLink
    viewer: Peer
    owner: int | None = None  # the browser session (row id) that opened it
    device_id: int | None = None  # the approved viewing device it was opened from
    identity: ViewerIdentity | None = None
    # 128 bits from the OS CSPRNG; URL-safe so it passes the protocol's session-id pattern.
    session_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # The organization's policy when the session began (a later change applies to new ones).
    policy: RemotePolicy = field(default_factory=RemotePolicy)
    started_at: float = field(default_factory=time.monotonic)
    limit_task: asyncio.Task[None] | None = None
    # From the viewer's grant (broker/access/decision.py): the picture only, and the UTC
    # instant its time window closes (None: no window limits it). A grant change may move it.
    view_only: bool = False
    closes_at: datetime | None = None
    window_task: asyncio.Task[None] | None = None
    # The last input the agent reported (``activity``): the broker's own idle clock.
    last_activity_at: float = field(default_factory=time.monotonic)
    idle_task: asyncio.Task[None] | None = None
    # The viewer's remote candidates (mamori_protocol/candidates.py): counted and checked;
    # the first refusal worth it is audited, once per session.
    candidates: CandidateBudget = field(
        default_factory=lambda: CandidateBudget(relay_only=False, allow_private=True)
    )
    candidates_audited: bool = False
    # The page's secret for taking the signaling back after a broker restart (only its hash
    # is stored: broker/signaling/adoption.py); replaced at each resume.
    resume_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def relay_only(self) -> bool:
        return self.policy.ice_policy == "relay"

    @property
    def duration_s(self) -> int:
        return int(time.monotonic() - self.started_at)

    @property
    def idle(self) -> bool:
        """No input reported for the policy's idle limit."""
        return time.monotonic() - self.last_activity_at >= self.policy.idle_s


@dataclass(frozen=True)
class HostInfo:
    host_id: str
    name: str
    busy: bool


@dataclass(frozen=True)
class LiveSession:
    """A session as the console's dashboard lists it."""

    session_id: str
    host_id: str
    host_name: str
    user_id: int | None
    username: str
    display_name: str
    duration_s: int

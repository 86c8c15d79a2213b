"""The signaling relay: pairs one viewer with one agent by host id and forwards SDP and ICE.

The relay holds no socket; endpoints hand it ``Peer`` objects (anything that can send a text
frame and close), so pairing and refusal rules are tested without a network. It never sees
media: only offers, answers and candidates pass through it.

Hosts are keyed by (organization, host id): two clinics may both have a ``reception-pc``,
and a viewer only ever finds hosts of its own organization; another clinic's host is
``unknown_host``, exactly like one that does not exist.

Idleness (クリアスクリーン, MHLW.md row 8) is decided here, not by the page and not only by
the agent: the agent reports input (``activity``), the relay ends a session idle past its
limit with ``idle_timeout``, and whichever way a session ends (the agent's bye, the viewer's
``peer_failed`` after the agent closed the peer, a closed socket), if it was idle the browser
session is sent back to the second-factor step *before* the host is free again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

import mamori_protocol as protocol
from broker.access import privacy_screen
from broker.access.remote_policy import RemotePolicy
from broker.clock import Clock
from broker.errors import HostBusy, Unavailable, UnknownHost
from broker.signaling import forwarding
from broker.signaling.session_guards import start_guards
from broker.signaling.sessions import (
    AgentLink,
    HostInfo,
    LiveSession,
    Peer,
    Session,
    SessionEvents,
    ViewerIdentity,
    _NoEvents,
)
from mamori_protocol import CloseCode
from mamori_protocol.candidates import CandidateBudget

log = logging.getLogger(__name__)

# Ends that only say something broke or went away: when the session was idle by then, the
# idleness is the real reason (the agent closing its peer at the idle limit reaches the
# relay as the viewer's peer_failed first). More specific reasons are kept.
_VAGUE_ENDS: Final = frozenset({"peer_failed", "webrtc", "viewer_left", "host_disconnected"})


class Relay:
    """Registry of connected agents and live sessions; one instance per broker process."""

    def __init__(
        self,
        policy: RemotePolicy | None = None,
        events: SessionEvents | None = None,
        clock: Clock | None = None,
        *,
        ice: Callable[[str], tuple[protocol.IceServer, ...]] | None = None,
        allow_loopback_candidates: bool = False,
    ) -> None:
        self._agents: dict[tuple[int, str], AgentLink] = {}
        # STUN/TURN servers with a fresh credential for a subject (broker/turn); none: the
        # ends connect directly or not at all.
        self.ice = ice or (lambda subject: ())
        # Tests and the demo run both ends on one machine (MAMORI_ICE_LOOPBACK).
        self.allow_loopback_candidates = allow_loopback_candidates
        self.policy = policy or RemotePolicy()
        self.events: SessionEvents = events or _NoEvents()
        # The broker's clock: time windows close by it, so tests can move it.
        self.clock = clock or Clock()
        # Set once the broker is stopping: no session starts any more.
        self.draining = False

    def sessions_of(self, org_id: int) -> list[Session]:
        """The live sessions on ``org_id``'s hosts."""
        return [
            a.session
            for (org, _), a in self._agents.items()
            if org == org_id and a.session is not None
        ]

    def hosts(self, org_id: int) -> list[HostInfo]:
        """Connected hosts of ``org_id``, sorted by name."""
        return sorted(
            (
                HostInfo(a.host_id, a.name, a.session is not None)
                for (org, _), a in self._agents.items()
                if org == org_id
            ),
            key=lambda h: (h.name, h.host_id),
        )

    def live_sessions(self, org_id: int) -> list[LiveSession]:
        """Sessions running now on ``org_id``'s hosts as the dashboard lists them, longest
        first."""
        found = []
        for session in self.sessions_of(org_id):
            who = session.identity
            found.append(
                LiveSession(
                    session.session_id,
                    session.agent.host_id,
                    session.agent.name,
                    who.user_id if who else None,
                    who.username if who else "",
                    who.display_name if who else "",
                    session.duration_s,
                )
            )
        return sorted(found, key=lambda s: -s.duration_s)

    async def end_session(self, org_id: int, session_id: str, reason: str) -> bool:
        """End one of ``org_id``'s sessions (an admin's decision): the agent closes the peer
        connection, the viewer is told ``reason``. False if no such session runs."""
        for session in self.sessions_of(org_id):
            if session.session_id == session_id:
                await self.end(session, reason)
                return True
        return False

    def online_hosts(self) -> set[tuple[int, str]]:
        """(organization, host id) of every agent connected to this broker now."""
        return set(self._agents)

    async def add_agent(
        self,
        org_id: int,
        hello: protocol.AgentHello,
        peer: Peer,
        certificate_serial: str = "",
    ) -> AgentLink:
        """Register an agent; a newer connection for the same host replaces the older one.

        The newest wins because an agent that lost its network reconnects before the broker
        notices the old socket is dead; refusing it would lock the host out until a timeout.
        """
        key = (org_id, hello.host_id)
        previous = self._agents.get(key)
        link = AgentLink(org_id, hello.host_id, hello.name, hello.version, peer)
        link.certificate_serial = certificate_serial
        self._agents[key] = link
        if previous is not None:
            log.warning("agent %s reconnected; closing its previous link", hello.host_id)
            await self.end_from_host(previous, "host_disconnected", CloseCode.HOST_DISCONNECTED)
            await previous.peer.close(CloseCode.HOST_ID_TAKEN, "replaced by a newer connection")
        log.info("agent %s (%s) connected", hello.host_id, hello.name)
        return link

    def agents(self) -> list[AgentLink]:
        """Every connected agent (of every organization)."""
        return list(self._agents.values())

    def agent(self, org_id: int, host_id: str) -> AgentLink | None:
        return self._agents.get((org_id, host_id))

    async def disconnect(self, link: AgentLink, reason: str) -> None:
        """Cut an agent whose credentials no longer hold (its certificate was revoked or ran
        out): its viewer is told the host went away, the agent's socket is closed."""
        log.warning("agent %s disconnected: %s", link.host_id, reason)
        await self.end_from_host(link, "host_disconnected", CloseCode.HOST_DISCONNECTED)
        await link.peer.close(CloseCode.UNAUTHORIZED, reason)

    async def remove_agent(self, link: AgentLink) -> None:
        """The agent's socket closed: its viewer is told at once, not left with a frozen picture."""
        key = (link.org_id, link.host_id)
        if self._agents.get(key) is link:
            del self._agents[key]
            log.info("agent %s disconnected", link.host_id)
        await self.end_from_host(link, "host_disconnected", CloseCode.HOST_DISCONNECTED)

    async def join(
        self,
        org_id: int,
        host_id: str,
        viewer: Peer,
        owner: int | None = None,
        identity: ViewerIdentity | None = None,
        policy: RemotePolicy | None = None,
        *,
        view_only: bool = False,
        closes_at: datetime | None = None,
        session_id: str | None = None,
        device_id: int | None = None,
    ) -> Session:
        """Pair a viewer of ``org_id`` with that organization's host, under ``policy`` (the
        organization's; the relay's defaults when None).

        ``view_only`` and ``closes_at`` come from the viewer's grant: the agent is told to
        refuse all input, and the session ends when its time window closes.

        The same signed-in browser on the same viewing device coming back (its network
        changed: Wi-Fi to LTE, a laptop waking up) takes its own session over: its old
        signaling socket may stay half-open until the ping timeout, holding the PC for
        tens of seconds while the person sees nothing. The old session ends as
        ``peer_failed`` (its peer connection is what failed) before the new one starts.
        Anyone else still finds the host busy.

        Raises:
            UnknownHost: no agent of ``org_id`` is connected for ``host_id``.
            HostBusy: the host already has a viewer (one viewer per host).
        """
        if self.draining:
            raise Unavailable("the broker is shutting down; connect again in a moment")
        agent = self._agents.get((org_id, host_id))
        if agent is None:
            raise UnknownHost("no such host is online")
        current = agent.session
        if (
            current is not None
            and owner is not None
            and current.owner == owner
            and current.device_id == device_id
        ):
            log.info("session %s: taken over by the same browser", current.session_id)
            await self.end(current, "peer_failed")
        if agent.session is not None:
            raise HostBusy("the host is in use by another viewer")
        session = Session(
            agent=agent,
            viewer=viewer,
            owner=owner,
            identity=identity,
            policy=policy or self.policy,
            view_only=view_only,
            closes_at=closes_at,
            device_id=device_id,
        )
        if session_id is not None:
            # Chosen by the caller when something (a vendor approval) is spent on it first.
            session.session_id = session_id
        session.candidates = CandidateBudget(
            relay_only=session.relay_only,
            allow_private=session.policy.lan_candidates,
            allow_loopback=self.allow_loopback_candidates,
        )
        agent.session = session  # taken now: the audit write below awaits
        log.info("session %s: viewer joined host %s", session.session_id, host_id)
        # The start is on record before the agent hears of it; if it cannot be recorded,
        # the session does not start (the host is free again).
        try:
            await self.events.started(session)
        except BaseException:
            agent.session = None
            raise
        await agent.peer.send(protocol.encode(self._session_start(session)))
        if view_only:
            # Before the answer, so the page knows before its input channel opens.
            await viewer.send(protocol.encode(protocol.Notice("view_only", 0)))
        start_guards(self, session)
        return session

    def adopt(self, session: Session) -> bool:
        """Take back a session its agent re-registered after this broker restarted (the
        policy checks are broker/signaling/adoption.py's): its limits, window and idle clock
        run again from here. False if the host has another session by now."""
        if (
            session.agent.session is not None
            or self._agents.get((session.agent.org_id, session.agent.host_id)) is not session.agent
        ):
            return False
        session.agent.session = session
        start_guards(self, session)
        return True

    def _session_start(self, session: Session) -> protocol.SessionStart:
        who = session.identity or ViewerIdentity(0, "unknown", "(不明)", "(不明)")
        policy = session.policy
        return protocol.SessionStart(
            session_id=session.session_id,
            host_id=session.agent.host_id,
            viewer_name=who.display_name,
            viewer_id=who.username,
            organization=who.organization,
            watermark=policy.watermark,
            # Decided now, by the broker's clock in the clinic's zone (off, outside opening
            # hours or always); someone who only watches never takes the PC from the room.
            block_local_input=privacy_screen.blocks_local_input(
                policy.privacy_screen,
                policy.opening_hours,
                who.time_zone,
                self.clock.now(),
                view_only=session.view_only,
            ),
            end_on_violation=policy.end_on_violation,
            idle_s=policy.idle_s,
            max_s=policy.max_s,
            view_only=session.view_only,
            time_zone=who.time_zone,
            text_entry=policy.text_entry,
            ice_servers=self.ice(session.session_id),
            ice_policy=policy.ice_policy,
            lan_candidates=policy.lan_candidates,
        )

    async def _reason(self, session: Session, reason: str) -> str:
        """The reason a session ends with, after sending its browser session back to the
        second factor if it was idle (awaited before the host is free again, so no new
        session can start on the old second factor)."""
        if reason != "idle_timeout" and not session.idle:
            return reason
        await self.events.idle(session)
        return "idle_timeout" if reason in _VAGUE_ENDS else reason

    async def from_viewer(self, session: Session, message: protocol.Message) -> None:
        """Forward a viewer's offer, candidate or bye to its agent, naming the session
        (``forwarding.viewer_message``: what is refused on the way)."""
        await forwarding.viewer_message(self, session, message)

    async def from_agent(self, agent: AgentLink, message: protocol.Message) -> None:
        """Forward an agent's answer, candidate or bye to the viewer of that session
        (``forwarding.agent_message``)."""
        await forwarding.agent_message(self, agent, message)

    async def leave(self, session: Session, reason: str, *, cancel_limit: bool = True) -> None:
        """The viewer left (bye or closed socket): tell the agent so it closes the peer."""
        agent = session.agent
        if agent.session is not session:
            return
        reason = await self._reason(session, reason)
        if agent.session is not session:
            return
        agent.session = None
        log.info("session %s ended by viewer: %s", session.session_id, reason)
        await agent.peer.send(
            protocol.encode(protocol.Bye(reason=reason, session_id=session.session_id))
        )
        await self._finished(session, reason, cancel_limit=cancel_limit)

    async def _finished(self, session: Session, reason: str, *, cancel_limit: bool = True) -> None:
        tasks = (
            session.limit_task if cancel_limit else None,
            session.window_task,
            session.idle_task,
        )
        for task in tasks:
            # A limit that ends the session runs this from its own task: never await oneself.
            if task is None or task.done() or task is asyncio.current_task():
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.events.ended(session, reason)

    async def end(self, session: Session, reason: str, code: CloseCode = CloseCode.NORMAL) -> None:
        """End a live session from the broker's side (an admin, a sign-out, its window
        closed, its grant went): the viewer is told why, the agent closes the peer.

        The viewer hears it first: once the agent closes the peer connection the page sees
        its media and channel fail and would take it for a network fault worth reconnecting
        after, before this bye arrived.
        """
        agent = session.agent
        if agent.session is not session:
            return
        reason = await self._reason(session, reason)
        if agent.session is not session:
            return
        agent.session = None  # detached at once: the viewer's closing socket cannot end it again
        log.info("session %s ended by the broker: %s", session.session_id, reason)
        await session.viewer.send(protocol.encode(protocol.Bye(reason=reason)))
        await session.viewer.close(code, reason.replace("_", " "))
        await agent.peer.send(
            protocol.encode(protocol.Bye(reason=reason, session_id=session.session_id))
        )
        await self._finished(session, reason)

    async def end_sessions_of(self, owners: set[int], reason: str = "signed_out") -> None:
        """End the viewer sessions opened by these browser sessions (logout, disable, ...)."""
        await self._end_where(lambda s: s.owner in owners, reason)

    async def end_sessions_of_devices(
        self, device_ids: set[int], reason: str = "device_revoked"
    ) -> None:
        """End the viewer sessions opened from these viewing devices (revoked by an admin)."""
        await self._end_where(lambda s: s.device_id in device_ids, reason)

    async def elsewhere(self, op: str, **values: object) -> None:
        """Seam for broker replicas (``broker.replicas.routing``): tell the other replicas of
        a decision taken here that they must apply to the sessions and links they hold
        (``op`` and ``values`` as in ``broker.replicas.wire``). One process: nobody to tell."""

    async def _end_where(self, chosen: Callable[[Session], bool], reason: str) -> None:
        """End the chosen sessions (``end``: the viewer hears why first, closed
        4401, then the agent's bye closes the peer connection)."""
        for agent in list(self._agents.values()):
            session = agent.session
            if session is not None and chosen(session):
                await self.end(session, reason, CloseCode.UNAUTHORIZED)

    async def end_from_host(self, agent: AgentLink, reason: str, code: CloseCode) -> None:
        """The host side ended ``agent``'s session (its bye, or a policy refusal of what it
        sent): the viewer is told why and closed with ``code``."""
        session = agent.session
        if session is None:
            return
        reason = await self._reason(session, reason)
        if agent.session is not session:
            return
        agent.session = None
        log.info("session %s ended by host side: %s", session.session_id, reason)
        if code == CloseCode.POLICY_VIOLATION:
            await agent.peer.send(
                protocol.encode(protocol.Bye(reason=reason, session_id=session.session_id))
            )
        await session.viewer.send(protocol.encode(protocol.Bye(reason=reason)))
        await session.viewer.close(code, reason.replace("_", " "))
        await self._finished(session, reason)

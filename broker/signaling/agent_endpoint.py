"""``/ws/agent``, on the agent port only: a host agent's outbound link.

The agent is who its client certificate says (``agent_auth``), checked before the upgrade:
a refused certificate gets HTTP 403 and no WebSocket. Before even that, a bounded number of
handshakes may run at once (``agent_gate``); one more is answered 503 + Retry-After. Its
``agent_hello`` must name the certificate's host id; the link is registered under the
certificate's organization and remembers the certificate's serial, so revoking that
certificate ends the link.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response, WebSocket, WebSocketDisconnect

import mamori_protocol as protocol
from broker.agents import hosts as agents
from broker.agents.auth import authenticate, source_of
from broker.agents.ca import VerifiedAgent
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.errors import RelayError
from broker.replicas.presence import Presence
from broker.signaling.adoption import Adoption
from broker.signaling.agent_gate import SLOT_EXTENSION, HandshakeGate
from broker.signaling.agent_registrations import AgentRegistrations
from broker.signaling.endpoints import (
    FIRST_MESSAGE_TIMEOUT_S,
    WebSocketPeer,
    _Closed,
    _receive,
    _refuse,
    _refuse_protocol,
)
from broker.signaling.relay import Relay
from broker.signaling.sessions import AgentLink
from mamori_protocol import CloseCode, Direction, ProtocolError

log = logging.getLogger(__name__)

router = APIRouter()


async def _hello_refused(ws: WebSocket, agent: VerifiedAgent, hello: protocol.AgentHello) -> None:
    db: Database = ws.app.state.db
    clock: Clock = ws.app.state.clock
    async with db.session() as s:
        record(
            s,
            Actor(source_of(ws), name=f"agent:{agent.host_id}"),
            Event.AGENT_REFUSED,
            Outcome.DENIED,
            clock.now(),
            org_id=agent.org_id,
            detail=f"reason=host_mismatch certificate={agent.host_id} hello={hello.host_id}",
        )
        await s.commit()


async def _last_seen(ws: WebSocket, org_id: int, host_id: str) -> None:
    """The console's "last seen" is when the link closed, not when it opened."""
    db: Database = ws.app.state.db
    clock: Clock = ws.app.state.clock
    async with db.session() as s:
        await agents.seen(s, org_id, host_id, clock.now())
        await s.commit()


async def _claim(ws: WebSocket, org_id: int, host_id: str, *, withdraw: bool = False) -> None:
    """Claim (or withdraw the claim on) the agent in Redis when this broker is a replica.
    A failure is logged, not fatal: the link works, and the claim's TTL or the next refresh
    puts things right (readiness reports Redis down meanwhile)."""
    presence: Presence | None = ws.app.state.presence
    if presence is None:
        return
    try:
        if withdraw:
            await presence.withdraw(org_id, host_id)
        else:
            await presence.announce(org_id, host_id)
    except Exception as exc:
        log.warning("presence of %s not updated: %s", host_id, type(exc).__name__)


@router.websocket("/ws/agent")
async def agent_endpoint(ws: WebSocket) -> None:
    """A host agent's outbound link: hello, then answers, candidates and byes."""
    gate: HandshakeGate = ws.app.state.agent_gate
    entered = gate.try_enter()
    # The agent port held a slot for this connection since its TLS handshake began: it is
    # given back only now that the gate counts the agent (in that order, so no parked
    # connection starts its handshake in between only to be answered 503).
    tls_slot = ws.scope.get("extensions", {}).get(SLOT_EXTENSION)
    if tls_slot is not None:
        tls_slot.release()
    if not entered:
        settings: Settings = ws.app.state.settings
        # Not audited, not logged per agent: this is the cheap path a storm takes.
        await ws.send_denial_response(
            Response(status_code=503, headers={"Retry-After": str(settings.agent_retry_after_s)})
        )
        return
    slot = _Slot(gate)
    try:
        await _serve_agent(ws, slot)
    finally:
        slot.release()


class _Slot:
    """One handshake slot, given back once the agent is registered or on any way out."""

    def __init__(self, gate: HandshakeGate) -> None:
        self._gate: HandshakeGate | None = gate

    def release(self) -> None:
        if self._gate is not None:
            self._gate.leave()
            self._gate = None


async def _serve_agent(ws: WebSocket, slot: _Slot) -> None:
    agent = await authenticate(ws)
    if agent is None:
        await ws.close(code=CloseCode.UNAUTHORIZED, reason="agent not authorized")
        return
    await ws.accept()
    peer = WebSocketPeer(ws)
    relay: Relay = ws.app.state.relay
    link: AgentLink | None = None
    hello: protocol.AgentHello | None = None
    try:
        first = await asyncio.wait_for(
            _receive(ws, Direction.AGENT_TO_BROKER), FIRST_MESSAGE_TIMEOUT_S
        )
        if not isinstance(first, protocol.AgentHello):
            await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "agent_hello must come first")
            return
        if first.host_id != agent.host_id:
            log.warning("agent %s said hello as %s: refused", agent.host_id, first.host_id)
            await _hello_refused(ws, agent, first)
            await _refuse(
                peer,
                CloseCode.UNAUTHORIZED,
                "unauthorized",
                "host_id differs from the certificate's",
            )
            return
        registrations: AgentRegistrations = ws.app.state.agent_registrations
        registered = registrations.submit(agent.org_id, first)
        # Queued: the database work is the batches' to bound (agent_registrations), and the
        # slot goes to the next agent's TLS handshake meanwhile.
        slot.release()
        hello = await registered
        link = await relay.add_agent(agent.org_id, hello, peer, certificate_serial=agent.serial)
        await _claim(ws, agent.org_id, hello.host_id)
        while True:
            message = await _receive(ws, Direction.AGENT_TO_BROKER)
            if isinstance(message, protocol.AgentHello):
                await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "agent_hello sent twice")
                return
            if isinstance(message, protocol.SessionResume):
                # A live session the agent kept while this broker restarted.
                adoption: Adoption = ws.app.state.adoption
                await adoption.adopt(link, message)
                continue
            if isinstance(message, protocol.SessionLost):
                # One it kept that ended meanwhile: its real end goes on record.
                await ws.app.state.adoption.lost(link, message)
                continue
            await relay.from_agent(link, message)
    except ProtocolError as exc:
        await _refuse_protocol(peer, "agent", exc)
    except RelayError as exc:
        await _refuse(peer, exc.close_code, exc.code, exc.message)
    except TimeoutError:
        await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "no agent_hello in time")
    except (_Closed, WebSocketDisconnect):
        pass
    finally:
        # The relay lets go first: its viewer must hear host_disconnected before the browser
        # sees the media stop and takes it for a network fault. Last seen follows.
        if link is not None:
            await relay.remove_agent(link)
            await _claim(ws, agent.org_id, link.host_id, withdraw=True)
        if hello is not None:
            await _last_seen(ws, agent.org_id, hello.host_id)

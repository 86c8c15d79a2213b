"""The ``/ws/viewer`` WebSocket endpoint, and what it shares with ``/ws/agent``
(``broker.signaling.agent_endpoint``, served on the agent port only).

A viewer authenticates before the upgrade (a refused handshake becomes HTTP 403, so nothing
is ever accepted from an unauthenticated peer) by an active (MFA-complete) session cookie
plus a single-use ticket of that session (``?ticket=``, 30 s) earned by an approved viewing
device (checked again here, and once more after joining). Then every frame is validated
with ``mamori_protocol`` and handed to the relay. Every refusal sends an ``error`` message
the client can translate, then closes with the matching close code and reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

import mamori_protocol as protocol
from broker.access import remote_policy as org_policy
from broker.access import tickets
from broker.access.remote_policy import RemotePolicy
from broker.access.zones import zone_of
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.db.models import BrowserSession, Organization, ViewingDevice
from broker.devices import challenges as device_challenges
from broker.devices import register as devices
from broker.errors import RelayError
from broker.identity import sessions
from broker.identity.sessions import SessionPolicy, Stage
from broker.signaling import admission
from broker.signaling.relay import Relay
from broker.signaling.sessions import Session, ViewerIdentity
from mamori_protocol import CloseCode, Direction, ProtocolError

log = logging.getLogger(__name__)

# A peer that connects and says nothing holds a socket for free; 10 s is ample on any network.
FIRST_MESSAGE_TIMEOUT_S: Final = 10.0

_ERROR_CODES: Final = {
    CloseCode.MESSAGE_TOO_BIG: "too_big",
    CloseCode.MALFORMED: "malformed",
    CloseCode.UNKNOWN_TYPE: "unknown_type",
    CloseCode.UNEXPECTED: "unexpected",
}

router = APIRouter()


class _Closed(Exception):
    """The peer closed its socket."""


class WebSocketPeer:
    """Adapts a Starlette WebSocket to the relay's ``Peer``; sending to a gone peer is a no-op."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        if self._ws.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            log.debug("send to a closed socket dropped")

    async def close(self, code: int, reason: str) -> None:
        if self._ws.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self._ws.close(code=code, reason=reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            # The peer may vanish between the state check and the close frame, or close
            # first (a browser does on a bye): nothing left to close.
            log.debug("close of a closed socket ignored")


async def _receive(ws: WebSocket, direction: Direction) -> protocol.Message:
    event = await ws.receive()
    if event["type"] == "websocket.disconnect":
        raise _Closed
    raw = event.get("text")
    if raw is None:
        raw = event.get("bytes") or b""
    return protocol.parse(raw, direction)


async def _refuse(peer: WebSocketPeer, code: CloseCode, error: str, message: str) -> None:
    await peer.send(protocol.encode(protocol.Error(code=error, message=message)))
    await peer.close(code, message)


async def _refuse_protocol(peer: WebSocketPeer, who: str, exc: ProtocolError) -> None:
    log.warning("%s: refused message: %s (close %d)", who, exc.reason, exc.close_code)
    await _refuse(peer, exc.close_code, _ERROR_CODES.get(exc.close_code, "malformed"), exc.reason)


def _source(ws: WebSocket) -> str:
    return ws.client.host if ws.client else "unknown"


@dataclass(frozen=True)
class _ViewerGrant:
    org_id: int
    owner: int  # the browser session's row id
    host_id: str
    identity: ViewerIdentity
    policy: RemotePolicy
    device_id: int


async def _viewer_grant(ws: WebSocket) -> _ViewerGrant | None:
    """Who may view which host: an active session, its unused ticket (spent here) and the
    approved device whose signed challenge earned the ticket (checked again now: it may
    have been revoked since); None if any is missing or not good."""
    db: Database = ws.app.state.db
    clock: Clock = ws.app.state.clock
    settings: Settings = ws.app.state.settings
    now = clock.now()
    policy = SessionPolicy(settings.idle_timeout_s, settings.session_lifetime_s)
    async with db.session() as s:
        loaded = await sessions.load(s, ws.cookies.get(sessions.COOKIE), now, policy)
        if loaded is None or loaded[0].stage != Stage.ACTIVE:
            return None
        browser_session, user = loaded
        ticket = await tickets.redeem(s, ws.query_params.get("ticket"), browser_session, now)
        await s.commit()
        if ticket is None:
            return None
        device_id = await device_challenges.device_of_ticket(s, ticket.id)
        device = await s.get(ViewingDevice, device_id) if device_id is not None else None
        refusal = devices.refusal_code(device)
        if device is None or refusal is not None or device.user_id != user.id:
            actor = Actor(_source(ws), user.id, user.org_id, user.username)
            detail = f"{refusal or 'device_unknown'} host={ticket.host_id} device={device_id}"
            record(s, actor, Event.SESSION_REFUSED, Outcome.DENIED, now, detail=detail)
            await s.commit()
            log.warning("viewer refused at the upgrade: %s", detail)
            return None
        organization = await s.get(Organization, browser_session.org_id)
        identity = ViewerIdentity(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            organization=organization.name if organization is not None else "",
            time_zone=zone_of(organization),
        )
        relay: Relay = ws.app.state.relay
        remote = await org_policy.policy_for(s, browser_session.org_id, relay.policy)
        return _ViewerGrant(
            browser_session.org_id, browser_session.id, ticket.host_id, identity, remote, device.id
        )


async def _device_still_approved(ws: WebSocket, device_id: int) -> bool:
    """Read the device again once the session is registered with the relay: a revocation
    committed before this read is seen here, one committed after it finds the session in
    the relay. Either way no session outlives its device."""
    db: Database = ws.app.state.db
    async with db.session() as s:
        device = await s.get(ViewingDevice, device_id)
        return devices.refusal_code(device) is None


async def _still_signed_in(ws: WebSocket, owner: int) -> bool:
    """Read the browser session again once the session is registered with the relay (as
    for the device above): a clear-screen committed while this viewer was being admitted
    (the relay commits it before it frees the host) is seen here."""
    db: Database = ws.app.state.db
    async with db.session() as s:
        record_ = await s.get(BrowserSession, owner)
        return record_ is not None and record_.stage == Stage.ACTIVE and record_.revoked_at is None


def _same_origin(ws: WebSocket) -> bool:
    """Cross-site WebSocket hijacking guard: cookies ride along on any origin's request."""
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    return origin is not None and host is not None and origin == f"https://{host}"


async def _audit_refusal(ws: WebSocket, grant: _ViewerGrant | None, why: str) -> None:
    """A viewer turned away: who (when known), from where, why."""
    db: Database = ws.app.state.db
    clock: Clock = ws.app.state.clock
    who = grant.identity if grant is not None else None
    actor = Actor(
        _source(ws),
        who.user_id if who else None,
        grant.org_id if grant is not None else None,
        who.username if who else "",
    )
    async with db.session() as s:
        record(s, actor, Event.VIEWER_REFUSED, Outcome.DENIED, clock.now(), detail=why)
        await s.commit()


@router.websocket("/ws/viewer")
async def viewer_endpoint(ws: WebSocket) -> None:
    """A browser's signaling link: join a host, then offer, candidates and bye."""
    peer = WebSocketPeer(ws)
    grant = await _viewer_grant(ws) if _same_origin(ws) else None
    if grant is None:
        log.warning(
            "viewer refused before upgrade: no session/ticket or foreign origin (%s)", ws.client
        )
        await _audit_refusal(ws, None, "no active session, no valid ticket or foreign origin")
        await ws.close(code=CloseCode.UNAUTHORIZED, reason="not signed in")
        return
    await ws.accept()
    relay: Relay = ws.app.state.relay
    session: Session | None = None
    try:
        join = await asyncio.wait_for(
            _receive(ws, Direction.VIEWER_TO_BROKER), FIRST_MESSAGE_TIMEOUT_S
        )
        if not isinstance(join, protocol.ViewerJoin):
            await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "viewer_join must come first")
            return
        if join.host_id != grant.host_id:
            await _audit_refusal(ws, grant, f"host={join.host_id} ticket for another host")
            await _refuse(
                peer, CloseCode.UNAUTHORIZED, "unauthorized", "ticket is for another host"
            )
            return
        # The grant is checked again here (and a vendor's approval spent): see admission.py.
        session = await admission.admit(
            ws.app.state.db,
            ws.app.state.clock,
            relay,
            org_id=grant.org_id,
            host_id=join.host_id,
            owner=grant.owner,
            identity=grant.identity,
            source=_source(ws),
            peer=peer,
            policy=grant.policy,
            device_id=grant.device_id,
        )
        if not await _device_still_approved(ws, grant.device_id):
            await relay.end(session, "device_revoked", CloseCode.UNAUTHORIZED)
            return
        if not await _still_signed_in(ws, grant.owner):
            await relay.end(session, "idle_timeout", CloseCode.UNAUTHORIZED)
            return
        if join.resume:
            # Kept in the page's memory only: it takes the signaling back after a restart.
            await peer.send(protocol.encode(protocol.ResumeToken(session.resume_secret)))
        while True:
            message = await _receive(ws, Direction.VIEWER_TO_BROKER)
            if isinstance(message, protocol.ViewerJoin):
                await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "already joined")
                return
            await relay.from_viewer(session, message)
    except ProtocolError as exc:
        await _refuse_protocol(peer, "viewer", exc)
    except RelayError as exc:
        log.info("viewer refused: %s", exc.message)
        if session is None:  # refused at the join (unknown or busy host), not mid-session
            await _audit_refusal(ws, grant, f"host={grant.host_id} {exc.code}")
        await _refuse(peer, exc.close_code, exc.code, exc.message)
    except TimeoutError:
        await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "no viewer_join in time")
    except (_Closed, WebSocketDisconnect):
        pass
    finally:
        if session is not None:
            await relay.leave(session, "viewer_left")

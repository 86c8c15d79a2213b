"""``/ws/viewer/resume``: a page takes its live session's signaling back after the broker
restarted (the peer connection never stopped; broker/signaling/adoption.py re-adopted the
session when its agent re-registered it).

The proof is threefold, checked before anything is relayed: the upgrade carries an active
(MFA-complete) session cookie from this origin; the first message carries the session's
resume secret (``viewer_resume``), which only that page holds (in memory, handed out at the
start or the last resume, stored here as a hash); and the secret's session was opened by that
very browser session from a viewing device that is still approved. The secret is replaced
atomically on use (one conditional UPDATE), so it serves one reconnect; the new one is sent
back (``resume_token``). Among replicas the session may be held by another one (its agent
re-registered there): after these checks the resume is routed to it over its channel, as a
viewer's join is, and that replica checks it again and spends the secret. A session not
re-adopted anywhere yet (its agent reconnects jittered) is waited for a few seconds, then
answered ``resume_pending`` (close 1013: try again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select

import mamori_protocol as protocol
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.db.models import BrowserSession, OpenSession, User, ViewingDevice
from broker.devices import register as devices
from broker.errors import RelayError
from broker.identity import sessions
from broker.identity.sessions import SessionPolicy, Stage
from broker.replicas.fronts import JoinTerms
from broker.replicas.remote_resume import PENDING
from broker.replicas.routing import ReplicatedRelay
from broker.signaling.adoption import SESSION_ENDED, take_over
from broker.signaling.endpoints import (
    FIRST_MESSAGE_TIMEOUT_S,
    WebSocketPeer,
    _Closed,
    _receive,
    _refuse,
    _refuse_protocol,
    _same_origin,
    _source,
)
from broker.signaling.relay import Relay
from broker.signaling.resume_secret import secret_hash
from broker.signaling.sessions import Session, ViewerIdentity
from mamori_protocol import CloseCode, Direction, ProtocolError

log = logging.getLogger(__name__)

router = APIRouter()

# How long a resume waits for the agent to re-register the session (agents come back 1-2 s
# after a restart, jittered); the page tries again after a refusal with 1013.
WAIT_FOR_AGENT_S: Final = 8.0
_POLL_S: Final = 0.2


class _Refused(Exception):
    def __init__(self, code: str, close: CloseCode, why: str) -> None:
        super().__init__(why)
        self.code = code
        self.close = close
        self.why = why


async def _signed_in(ws: WebSocket) -> tuple[BrowserSession, User] | None:
    db: Database = ws.app.state.db
    clock: Clock = ws.app.state.clock
    settings: Settings = ws.app.state.settings
    policy = SessionPolicy(settings.idle_timeout_s, settings.session_lifetime_s)
    async with db.session() as s:
        loaded = await sessions.load(s, ws.cookies.get(sessions.COOKIE), clock.now(), policy)
        await s.commit()
    if loaded is None or loaded[0].stage != Stage.ACTIVE:
        return None
    return loaded


async def _audit(ws: WebSocket, user: User | None, why: str) -> None:
    db: Database = ws.app.state.db
    clock: Clock = ws.app.state.clock
    actor = Actor(
        _source(ws),
        user.id if user else None,
        user.org_id if user else None,
        user.username if user else "",
    )
    async with db.session() as s:
        record(s, actor, Event.VIEWER_REFUSED, Outcome.DENIED, clock.now(), detail=why)
        await s.commit()


def _held(relay: Relay, org_id: int, session_id: str) -> Session | None:
    for session in relay.sessions_of(org_id):
        if session.session_id == session_id:
            return session
    return None


async def _holder(relay: Relay, org_id: int, host_id: str) -> tuple[ReplicatedRelay, str] | None:
    """The other replica whose agent claim names this host, or None: one process, the agent
    here or not linked anywhere yet (re-registering), or Redis away (then the page is
    answered ``resume_pending`` as before and tries again)."""
    if not isinstance(relay, ReplicatedRelay):
        return None
    try:
        where = await relay.presence.where(org_id, host_id)
    except Exception:
        log.warning("resume: where the agent is could not be read", exc_info=True)
        return None
    return None if where is None or where == relay.replica else (relay, where)


async def _reattach(
    ws: WebSocket, owner: BrowserSession, user: User, token: str, peer: WebSocketPeer
) -> Session:
    """The session this page's secret names, now signaled over ``peer``; a new secret sent.
    Checked here first (browser session, secret, device); held here, it is taken at once
    (``adoption.take_over``); held by another replica, the resume is routed there, which
    checks it again and spends the secret (broker/replicas/remote_resume.py).

    Raises:
        _Refused: no session for this secret and browser session, its device no longer
            approved, not (yet) re-adopted, or the secret was just used.
    """
    db: Database = ws.app.state.db
    relay: Relay = ws.app.state.relay
    used = secret_hash(token)
    async with db.session() as s:
        row = await s.scalar(select(OpenSession).where(OpenSession.resume_hash == used))
        if row is None or row.owner_id != owner.id:
            raise _Refused("resume_refused", CloseCode.UNAUTHORIZED, "resume: unknown secret")
        device = await s.get(ViewingDevice, row.device_id) if row.device_id else None
        if device is None or devices.refusal_code(device) is not None:
            raise _Refused("device_revoked", CloseCode.UNAUTHORIZED, "resume: device revoked")
        # For a stand-in session when routed (the holder reads the person again itself).
        identity = ViewerIdentity(user.id, user.username, user.display_name, "")
        terms = JoinTerms(
            row.org_id, row.host_id, owner.id, identity, row.session_id, device.id, row.view_only
        )
    deadline = time.monotonic() + WAIT_FOR_AGENT_S
    for _ in range(int(WAIT_FOR_AGENT_S / _POLL_S) + 1):
        session = _held(relay, terms.org_id, terms.session_id)
        if session is not None:
            refused = await take_over(db, session, used, peer)
            if refused is not None:
                close = CloseCode.NORMAL if refused == SESSION_ENDED else CloseCode.UNAUTHORIZED
                raise _Refused("resume_refused", close, refused)
            return session
        holder = await _holder(relay, terms.org_id, terms.host_id)
        if holder is not None:
            replicated, where = holder
            try:
                routed, code, why = await replicated.fronts.resume(where, peer, terms, token)
            except RelayError:  # no answer: as if not re-adopted yet (the page tries again)
                routed, code, why = None, PENDING, ""
            if routed is not None:
                return routed
            if code != PENDING:
                close = CloseCode.NORMAL if why == SESSION_ENDED else CloseCode.UNAUTHORIZED
                raise _Refused(code, close, why)
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(_POLL_S)
    raise _Refused("resume_pending", CloseCode.TRY_AGAIN_LATER, "resume: not re-adopted yet")


@router.websocket("/ws/viewer/resume")
async def resume_endpoint(ws: WebSocket) -> None:
    """A page's signaling for its live session, taken back after a broker restart."""
    signed_in = await _signed_in(ws) if _same_origin(ws) else None
    if signed_in is None:
        await _audit(ws, None, "resume: no active session or foreign origin")
        await ws.close(code=CloseCode.UNAUTHORIZED, reason="not signed in")
        return
    owner, user = signed_in
    await ws.accept()
    peer = WebSocketPeer(ws)
    relay: Relay = ws.app.state.relay
    session: Session | None = None
    try:
        first = await asyncio.wait_for(
            _receive(ws, Direction.VIEWER_TO_BROKER), FIRST_MESSAGE_TIMEOUT_S
        )
        if not isinstance(first, protocol.ViewerResume):
            await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "viewer_resume must come first")
            return
        session = await _reattach(ws, owner, user, first.token, peer)
        while True:
            message = await _receive(ws, Direction.VIEWER_TO_BROKER)
            if isinstance(message, protocol.ViewerJoin | protocol.ViewerResume):
                await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "already joined")
                return
            await relay.from_viewer(session, message)
    except _Refused as exc:
        log.warning("viewer resume refused: %s", exc.why)
        if exc.code != "resume_pending":
            await _audit(ws, user, exc.why)
        await _refuse(peer, exc.close, exc.code, exc.why)
    except ProtocolError as exc:
        await _refuse_protocol(peer, "viewer", exc)
    except RelayError as exc:
        await _refuse(peer, exc.close_code, exc.code, exc.message)
    except TimeoutError:
        await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "no viewer_resume in time")
    except (_Closed, WebSocketDisconnect):
        pass
    finally:
        if session is not None:
            await relay.leave(session, "viewer_left")

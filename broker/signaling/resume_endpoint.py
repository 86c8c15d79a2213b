"""``/ws/viewer/resume``: a page takes its live session's signaling back after the broker
restarted (the peer connection never stopped; broker/signaling/adoption.py re-adopted the
session when its agent re-registered it).

The proof is threefold, checked before anything is relayed: the upgrade carries an active
(MFA-complete) session cookie from this origin; the first message carries the session's
resume secret (``viewer_resume``), which only that page holds (in memory, handed out at the
start or the last resume, stored here as a hash); and the secret's session was opened by that
very browser session from a viewing device that is still approved. The secret is replaced
atomically on use (one conditional UPDATE), so it serves one reconnect; the new one is sent
back (``resume_token``). A session not re-adopted yet (its agent reconnects jittered) is
waited for a few seconds, then answered ``resume_pending`` (close 1013: try again).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select, update

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
from broker.signaling.adoption import AwaitingViewer
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
from broker.signaling.sessions import Session
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


async def _live(relay: Relay, org_id: int, session_id: str) -> Session | None:
    """The re-adopted session, waited for a bounded while."""
    for _ in range(int(WAIT_FOR_AGENT_S / _POLL_S) + 1):
        for session in relay.sessions_of(org_id):
            if session.session_id == session_id:
                return session
        await asyncio.sleep(_POLL_S)
    return None


async def _reattach(
    ws: WebSocket, owner: BrowserSession, token: str, peer: WebSocketPeer
) -> Session:
    """The session this page's secret names, now signaled over ``peer``; a new secret sent.

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
        if devices.refusal_code(device) is not None:
            raise _Refused("device_revoked", CloseCode.UNAUTHORIZED, "resume: device revoked")
        session_id, org_id = row.session_id, row.org_id
    session = await _live(relay, org_id, session_id)
    if session is None:
        raise _Refused("resume_pending", CloseCode.TRY_AGAIN_LATER, "resume: not re-adopted yet")
    if not isinstance(session.viewer, AwaitingViewer):
        raise _Refused("resume_refused", CloseCode.UNAUTHORIZED, "resume: viewer present")
    fresh = secrets.token_urlsafe(32)
    async with db.session() as s:
        replaced = await s.execute(
            update(OpenSession)
            .where(OpenSession.session_id == session_id, OpenSession.resume_hash == used)
            .values(resume_hash=secret_hash(fresh))
        )
        await s.commit()
    # Two pages racing one secret: one UPDATE matches, the other finds it spent.
    if getattr(replaced, "rowcount", 0) != 1 or not isinstance(session.viewer, AwaitingViewer):
        raise _Refused("resume_refused", CloseCode.UNAUTHORIZED, "resume: secret already used")
    if session.agent.session is not session:
        raise _Refused("resume_refused", CloseCode.NORMAL, "resume: session ended")
    session.resume_secret = fresh
    session.viewer = peer
    await peer.send(protocol.encode(protocol.ResumeToken(fresh)))
    log.info("session %s: viewer signaling resumed", session_id)
    return session


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
        session = await _reattach(ws, owner, first.token, peer)
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

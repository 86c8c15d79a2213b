"""The ``/ws/agent`` and ``/ws/viewer`` WebSocket endpoints.

Both authenticate before the upgrade (a refused handshake becomes HTTP 403, so nothing is
ever accepted from an unauthenticated peer), then validate every frame with
``broker.protocol`` and hand it to the relay. Every refusal sends an ``error`` message the
client can translate, then closes with the matching close code and reason.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from broker import protocol
from broker.errors import RelayError
from broker.protocol import CloseCode, Direction, ProtocolError
from broker.security.access_links import SESSION_COOKIE, AccessLinks
from broker.signaling.relay import AgentLink, Relay, Session

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
        except (RuntimeError, OSError):
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


def _agent_authorized(ws: WebSocket) -> bool:
    token: str = ws.app.state.settings.agent_token
    header = ws.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode())


def _same_origin(ws: WebSocket) -> bool:
    """Cross-site WebSocket hijacking guard: cookies ride along on any origin's request."""
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    return origin is not None and host is not None and origin == f"https://{host}"


@router.websocket("/ws/agent")
async def agent_endpoint(ws: WebSocket) -> None:
    """A host agent's outbound link: hello, then answers, candidates and byes."""
    peer = WebSocketPeer(ws)
    if not _agent_authorized(ws):
        log.warning("agent refused before upgrade: bad or missing token from %s", ws.client)
        await ws.close(code=CloseCode.UNAUTHORIZED, reason="agent not authorized")
        return
    await ws.accept()
    relay: Relay = ws.app.state.relay
    link: AgentLink | None = None
    try:
        hello = await asyncio.wait_for(
            _receive(ws, Direction.AGENT_TO_BROKER), FIRST_MESSAGE_TIMEOUT_S
        )
        if not isinstance(hello, protocol.AgentHello):
            await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "agent_hello must come first")
            return
        link = await relay.add_agent(hello, peer)
        while True:
            message = await _receive(ws, Direction.AGENT_TO_BROKER)
            if isinstance(message, protocol.AgentHello):
                await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "agent_hello sent twice")
                return
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
        if link is not None:
            await relay.remove_agent(link)


@router.websocket("/ws/viewer")
async def viewer_endpoint(ws: WebSocket) -> None:
    """A browser's signaling link: join a host, then offer, candidates and bye."""
    peer = WebSocketPeer(ws)
    links: AccessLinks = ws.app.state.access_links
    if not _same_origin(ws) or not links.session_valid(ws.cookies.get(SESSION_COOKIE)):
        log.warning("viewer refused before upgrade: no session or foreign origin (%s)", ws.client)
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
        session = await relay.join(join.host_id, peer)
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
        await _refuse(peer, exc.close_code, exc.code, exc.message)
    except TimeoutError:
        await _refuse(peer, CloseCode.UNEXPECTED, "unexpected", "no viewer_join in time")
    except (_Closed, WebSocketDisconnect):
        pass
    finally:
        if session is not None:
            await relay.leave(session, "viewer_left")

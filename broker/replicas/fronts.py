"""The viewer's side of a routed session: viewers connected here whose session lives on the
replica holding the agent (they joined through here, or their page resumed its re-adopted
session through here).

Each has a stand-in ``Session`` (so the viewer endpoint and admission treat it like any
other) whose agent end goes nowhere; what the viewer sends is forwarded to the holder, and
what the holder sends for it (``send``, ``close``) reaches its socket here. Closing a
viewer here never waits on the holder (it may be gone): fail closed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import mamori_protocol as protocol
from broker.access.grants import Refusal
from broker.errors import (
    AccessRefused,
    HostBusy,
    NotInSession,
    RelayError,
    Unavailable,
    UnknownHost,
)
from broker.replicas import wire
from broker.replicas.bus import Bus
from broker.signaling.sessions import AgentLink, Peer, Session, ViewerIdentity
from mamori_protocol import CloseCode, Direction, ProtocolError

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S: Final = 5.0
_ERRORS: Final[dict[str, type[RelayError]]] = {
    "unknown_host": UnknownHost,
    "host_busy": HostBusy,
    "unavailable": Unavailable,
}


class _Nowhere:
    """The agent end of a stand-in session: the agent is on another replica."""

    async def send(self, text: str) -> None:
        return None

    async def close(self, code: int, reason: str) -> None:
        return None


@dataclass(eq=False)
class Front:
    """A viewer here whose session lives on ``replica``."""

    conn: str
    replica: str
    session: Session


@dataclass(frozen=True)
class JoinTerms:
    org_id: int
    host_id: str
    owner: int
    identity: ViewerIdentity
    session_id: str
    device_id: int
    view_only: bool


class Fronts:
    """This replica's routed viewers, by connection id and by stand-in session."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._by_conn: dict[str, Front] = {}
        self._by_session: dict[Session, Front] = {}
        self._waiting: dict[str, asyncio.Future[tuple[str, str]]] = {}

    def of(self, session: Session) -> Front | None:
        return self._by_session.get(session)

    def all(self) -> list[Front]:
        return list(self._by_conn.values())

    async def join(self, where: str, viewer: Peer, terms: JoinTerms) -> Session:
        """Ask replica ``where`` to pair this viewer with its agent; the stand-in session.

        Raises:
            RelayError: refused there (as it said), or no answer within JOIN_TIMEOUT_S.
        """
        stand_in, error, message = await self._ask(
            where, viewer, terms, "join", device=terms.device_id, view_only=terms.view_only
        )
        if error:
            if error in _ERRORS:
                raise _ERRORS[error](message)
            raise AccessRefused(Refusal.NO_GRANT.value, message or "refused by the host's broker")
        log.info("session %s: routed to %s for %s", terms.session_id, where, terms.host_id)
        return stand_in

    async def resume(
        self, where: str, viewer: Peer, terms: JoinTerms, secret: str
    ) -> tuple[Session | None, str, str]:
        """Ask replica ``where``, which holds the re-adopted session, to hand its signaling to
        this page (the secret is checked and spent there); the stand-in session, or None
        with the holder's refusal (code, message). The next secret reaches the page from the
        holder as a routed frame, before the answer.

        Raises:
            RelayError: no answer within JOIN_TIMEOUT_S, or nobody listens there.
        """
        stand_in, error, message = await self._ask(where, viewer, terms, "resume", secret=secret)
        if error:
            return None, error, message
        log.info("session %s: resumed through %s", terms.session_id, where)
        return stand_in, "", ""

    async def _ask(
        self, where: str, viewer: Peer, terms: JoinTerms, op: str, **values: object
    ) -> tuple[Session, str, str]:
        """Send ``op`` for a new routed viewer and wait for the holder's answer: the
        stand-in (registered unless refused), the refusal's code and message."""
        conn = secrets.token_urlsafe(16)
        stand_in = Session(
            agent=AgentLink(terms.org_id, terms.host_id, terms.host_id, "", _Nowhere()),
            viewer=viewer,
            owner=terms.owner,
            identity=terms.identity,
            session_id=terms.session_id,
            view_only=terms.view_only,
            device_id=terms.device_id,
        )
        stand_in.agent.session = stand_in
        front = Front(conn, where, stand_in)
        # Before the request is sent: the far side may send (a view-only notice, the next
        # resume secret) before it answers.
        self._by_conn[conn], self._by_session[stand_in] = front, front
        waiter: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._waiting[conn] = waiter
        try:
            sent = await self.bus.to_replica(
                where, op, conn=conn, org=terms.org_id, host=terms.host_id, owner=terms.owner,
                user=terms.identity.user_id, session=terms.session_id, **values,
            )  # fmt: skip
            if not sent:
                raise Unavailable("the host's broker does not answer; try again")
            try:
                error, message = await asyncio.wait_for(waiter, JOIN_TIMEOUT_S)
            except TimeoutError as exc:
                raise Unavailable("the host's broker did not answer in time") from exc
        except BaseException:
            self.drop(front)
            raise
        finally:
            self._waiting.pop(conn, None)
        if error:
            self.drop(front)
        return stand_in, error, message

    def drop(self, front: Front) -> None:
        self._by_conn.pop(front.conn, None)
        self._by_session.pop(front.session, None)
        front.session.agent.session = None

    async def forward(self, front: Front, message: protocol.Message) -> None:
        """A frame from the viewer, to the session's holder."""
        sent = await self.bus.to_replica(
            front.replica, "viewer", conn=front.conn, frame=protocol.encode(message)
        )
        if not sent:  # the agent's replica is gone: so is the session
            await self.close(front, "host_disconnected", CloseCode.HOST_DISCONNECTED)
            raise NotInSession("the host's broker went away")

    async def leave(self, front: Front, reason: str) -> None:
        self.drop(front)
        await self.bus.to_replica(front.replica, "leave", conn=front.conn, reason=reason)

    async def end(self, front: Front, reason: str, code: CloseCode) -> None:
        """End it at the holder and close the viewer here."""
        await self.bus.to_replica(front.replica, "end", conn=front.conn, reason=reason, code=code)
        await self.close(front, reason, code)

    async def end_where(self, chosen: Callable[[Session], bool], reason: str) -> None:
        for front in [f for f in self.all() if chosen(f.session)]:
            await self.end(front, reason, CloseCode.UNAUTHORIZED)

    async def close(self, front: Front, reason: str, code: CloseCode) -> None:
        """Close the viewer here whatever its holder does."""
        self.drop(front)
        await front.session.viewer.send(protocol.encode(protocol.Bye(reason=reason)))
        await front.session.viewer.close(code, reason.replace("_", " "))

    async def receive(self, m: wire.Message) -> None:
        """``joined``, ``send`` or ``close`` from a holder."""
        conn = m["conn"]
        match m.op:
            case "joined":
                waiter = self._waiting.get(conn)
                if waiter is not None and not waiter.done():
                    waiter.set_result((m["error"], m["message"]))
            case "send":
                front = self._by_conn.get(conn)
                if front is None:
                    if conn not in self._waiting:  # tell the holder: its viewer is gone
                        await self.bus.to_replica(m.sender, "gone", conn=conn)
                    return
                try:
                    protocol.parse(m["frame"], Direction.BROKER_TO_VIEWER)
                except ProtocolError:
                    log.warning("routed frame for a viewer refused")
                    return
                await front.session.viewer.send(m["frame"])
            case "close":
                front = self._by_conn.get(conn)
                if front is not None:
                    self.drop(front)
                    await front.session.viewer.close(m["code"], m["reason"])

"""The relay of a replica: a viewer on this replica reaches an agent linked to another.

``ReplicatedRelay`` is the one-process ``Relay`` plus routing; a SQLite broker never makes
one, so its in-memory path is untouched. A session always lives on the replica holding its
agent (limits, idle, window, audit run there, exactly as in one process); the viewer's
replica keeps only a stand-in ``Session`` and forwards (``fronts``):

    browser ── B (admission: ticket, device, grant, window, approval spent)
               │ join ──────────────► A (checks again: remote_admission; relay.join)
               │ viewer frames ─────► A (parsed again; relay.from_viewer)
               ◄── send / close ───── A (the viewer Peer of A's session is ``_RoutedViewer``)

A page resuming a re-adopted session through B goes the same way (``resume``, checked
again and its secret spent on A: remote_resume). Where the agent is comes from its presence
key. What gets lost and what then happens: ``bus``. Decisions (admin end, revoked device or
certificate, sign-out, disabled user, grant change) are applied here, then broadcast for the
replica that holds the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Final

import mamori_protocol as protocol
from broker.access.remote_policy import RemotePolicy
from broker.agents.ca import AgentAuthority
from broker.db.engine import Database
from broker.errors import (
    NotInSession,
    RelayError,
    Unavailable,
    UnknownHost,
)
from broker.replicas import ca_news, remote_admission, remote_resume, wire
from broker.replicas import directory as views
from broker.replicas.bus import Bus
from broker.replicas.bus import stop as bus_stop
from broker.replicas.fronts import Fronts, JoinTerms
from broker.replicas.presence import Presence
from broker.signaling import admission
from broker.signaling.relay import Relay
from broker.signaling.sessions import (
    AgentLink,
    HostInfo,
    LiveSession,
    Peer,
    Session,
    SessionEvents,
    ViewerIdentity,
)
from mamori_protocol import CloseCode, Direction, ProtocolError

log = logging.getLogger(__name__)

SUBSCRIBE_WAIT_S: Final = 5.0


class _RoutedViewer:
    """The viewer ``Peer`` of a session here whose browser reached replica ``replica``."""

    def __init__(self, relay: ReplicatedRelay, replica: str, conn: str) -> None:
        self._relay = relay
        self.replica = replica
        self.conn = conn

    async def send(self, text: str) -> None:
        if not await self._relay.bus.to_replica(self.replica, "send", conn=self.conn, frame=text):
            self._relay.viewer_gone(self.conn)

    async def close(self, code: int, reason: str) -> None:
        await self._relay.bus.to_replica(
            self.replica, "close", conn=self.conn, code=int(code), reason=reason[:200]
        )


class _Told:
    """The relay's events, plus: every start and end changes this replica's view."""

    def __init__(self, inner: SessionEvents, relay: ReplicatedRelay) -> None:
        self._inner = inner
        self._relay = relay

    async def started(self, session: Session) -> None:
        await self._inner.started(session)
        self._relay.changed()

    async def ended(self, session: Session, reason: str) -> None:
        try:
            await self._inner.ended(session, reason)
        finally:
            self._relay.ended(session)

    async def violation(self, session: Session, violation: str, detail: str) -> None:
        await self._inner.violation(session, violation, detail)

    async def idle(self, session: Session) -> None:
        await self._inner.idle(session)


class ReplicatedRelay(Relay):
    """A replica's relay (see the module's docstring)."""

    def __init__(
        self,
        *args: Any,
        db: Database,
        bus: Bus,
        presence: Presence,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.db = db
        self.bus = bus
        self.presence = presence
        self.replica = bus.replica
        self.directory = views.Directory()
        self.authority: AgentAuthority | None = None  # set once made (app wiring)
        self._routed: dict[str, Session] = {}  # sessions here with a viewer elsewhere
        self.fronts = Fronts(bus)  # viewers here with a session elsewhere
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self.events = _Told(self.events, self)
        self._life: list[asyncio.Task[None]] = []

    # -- what this replica shows: its own plus the others' last views -------------------

    def hosts(self, org_id: int) -> list[HostInfo]:
        own = super().hosts(org_id)
        mine = {h.host_id for h in own}
        others = [h for h in self.directory.hosts(org_id) if h.host_id not in mine]
        return sorted([*own, *others], key=lambda h: (h.name, h.host_id))

    def live_sessions(self, org_id: int) -> list[LiveSession]:
        own = super().live_sessions(org_id)
        mine = {s.session_id for s in own}
        others = [s for s in self.directory.sessions(org_id) if s.session_id not in mine]
        return sorted([*own, *others], key=lambda s: -s.duration_s)

    def sessions_of(self, org_id: int) -> list[Session]:
        # Only sessions held here: stand-ins are never re-checked or ended from this side
        # except through their holder.
        return [s for s in super().sessions_of(org_id) if self.fronts.of(s) is None]

    def changed(self) -> None:
        """Agents or sessions here changed: the others hear soon (``keep_telling``)."""
        self._changed.set()

    def ended(self, session: Session) -> None:
        for conn in [c for c, s in self._routed.items() if s is session]:
            del self._routed[conn]
        self.changed()

    # -- joining: here, or routed to the agent's replica ----------------------------------

    async def add_agent(
        self, org_id: int, hello: protocol.AgentHello, peer: Peer, certificate_serial: str = ""
    ) -> AgentLink:
        link = await super().add_agent(org_id, hello, peer, certificate_serial)
        self.changed()
        return link

    async def remove_agent(self, link: AgentLink) -> None:
        await super().remove_agent(link)
        self.changed()

    async def join(
        self, org_id: int, host_id: str, viewer: Peer, owner: int | None = None,
        identity: ViewerIdentity | None = None, policy: RemotePolicy | None = None, *,
        view_only: bool = False, closes_at: datetime | None = None,
        session_id: str | None = None, device_id: int | None = None,
    ) -> Session:  # fmt: skip
        if self.draining or self.agent(org_id, host_id) is not None:
            return await super().join(
                org_id, host_id, viewer, owner, identity, policy, view_only=view_only,
                closes_at=closes_at, session_id=session_id, device_id=device_id,
            )  # fmt: skip
        try:
            where = await self.presence.where(org_id, host_id)
        except Exception as exc:
            raise Unavailable("the broker cannot reach its peers; try again") from exc
        if where is None or where == self.replica:
            raise UnknownHost("no such host is online")
        if owner is None or identity is None or session_id is None or device_id is None:
            raise UnknownHost("no such host is online")
        terms = JoinTerms(org_id, host_id, owner, identity, session_id, device_id, view_only)
        return await self.fronts.join(where, viewer, terms)

    # -- a stand-in's viewer side: forwarded to the holder ---------------------------------

    async def from_viewer(self, session: Session, message: protocol.Message) -> None:
        front = self.fronts.of(session)
        if front is None:
            await super().from_viewer(session, message)
        else:
            await self.fronts.forward(front, message)

    async def leave(self, session: Session, reason: str, *, cancel_limit: bool = True) -> None:
        front = self.fronts.of(session)
        if front is None:
            await super().leave(session, reason, cancel_limit=cancel_limit)
        else:
            await self.fronts.leave(front, reason)

    async def end(self, session: Session, reason: str, code: CloseCode = CloseCode.NORMAL) -> None:
        front = self.fronts.of(session)
        if front is None:
            await super().end(session, reason, code)
        else:
            await self.fronts.end(front, reason, code)

    # -- decisions: applied here, then told to the others ----------------------------------

    async def end_session(self, org_id: int, session_id: str, reason: str) -> bool:
        if await super().end_session(org_id, session_id, reason):
            return True
        holder = self.directory.holder_of(org_id, session_id)
        await self.bus.to_all("end_session", org=org_id, session=session_id, reason=reason)
        return holder is not None

    async def end_sessions_of(self, owners: set[int], reason: str = "signed_out") -> None:
        await self._end_here(lambda s: s.owner in owners, reason)
        await self.bus.to_all("end_owners", ids=sorted(owners), reason=reason)

    async def end_sessions_of_devices(
        self, device_ids: set[int], reason: str = "device_revoked"
    ) -> None:
        await self._end_here(lambda s: s.device_id in device_ids, reason)
        await self.bus.to_all("end_devices", ids=sorted(device_ids), reason=reason)

    async def _end_here(self, chosen: Any, reason: str) -> None:
        """Sessions held here and viewers fronted here (fail closed: not only the holder)."""
        await self._end_where(chosen, reason)
        await self.fronts.end_where(chosen, reason)

    async def elsewhere(self, op: str, **values: Any) -> None:
        await self.bus.to_all(op, **values)

    # -- what arrives from the other replicas -----------------------------------------------

    async def receive(self, message: wire.Message) -> None:
        """The bus's handler. Joins and broadcast decisions run as their own tasks (they
        read the database); a session's frames are handled in order, inline."""
        match message.op:
            case "viewer" | "leave" | "end" | "gone" | "send" | "close" | "joined" | "view":
                await self._routed_message(message)
            case _:
                self._spawn(self._decision(message))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("replica work failed", exc_info=task.exception())

    def viewer_gone(self, conn: str) -> None:
        """A routed viewer's replica no longer listens: the session ends as its viewer left."""
        session = self._routed.pop(conn, None)
        if session is not None:
            self._spawn(super().leave(session, "viewer_left"))

    async def _routed_message(self, m: wire.Message) -> None:
        conn = m.fields.get("conn", "")
        match m.op:
            case "viewer":
                await self._frame_from_viewer(m, conn)
            case "leave" | "end" | "gone":
                session = self._routed.pop(conn, None)
                if session is None:
                    return
                if m.op == "end":
                    try:
                        code = CloseCode(m["code"])
                    except ValueError:
                        code = CloseCode.NORMAL
                    await super().end(session, m["reason"], code)
                else:
                    await super().leave(session, m["reason"] if m.op == "leave" else "viewer_left")
            case "joined" | "send" | "close":
                await self.fronts.receive(m)
            case "view":
                self.directory.learn(m.sender, m["hosts"], m["sessions"])

    async def _frame_from_viewer(self, m: wire.Message, conn: str) -> None:
        session = self._routed.get(conn)
        if session is None:
            await self.bus.to_replica(m.sender, "close", conn=conn, code=1000, reason="ended")
            return
        try:
            message = protocol.parse(m["frame"], Direction.VIEWER_TO_BROKER)
            if isinstance(message, protocol.ViewerJoin):
                raise NotInSession("already joined")
            await super().from_viewer(session, message)
        except (ProtocolError, RelayError) as exc:
            code, text = (
                (exc.close_code, exc.reason)
                if isinstance(exc, ProtocolError)
                else (exc.close_code, exc.message)
            )
            error = exc.code if isinstance(exc, RelayError) else "malformed"
            await session.viewer.send(protocol.encode(protocol.Error(code=error, message=text)))
            await session.viewer.close(code, text)
            self._routed.pop(conn, None)
            await super().leave(session, "viewer_left")

    async def _decision(self, m: wire.Message) -> None:
        match m.op:
            case "join":
                await self._routed_join(m)
            case "resume":
                resume = remote_resume.RoutedResume.of(m)
                viewer = _RoutedViewer(self, m.sender, resume.conn)
                error, text = await remote_resume.take(
                    self.db, self.clock, self, resume, viewer, self._routed, self.replica
                )
                await self.bus.to_replica(
                    m.sender, "joined", conn=resume.conn, error=error, message=text
                )
            case "end_owners":
                owners = set(m["ids"])
                await self._end_here(lambda s: s.owner in owners, m["reason"])
            case "end_devices":
                devices = set(m["ids"])
                await self._end_here(lambda s: s.device_id in devices, m["reason"])
            case "end_session":
                await super().end_session(m["org"], m["session"], m["reason"])
            case "cut_certs":
                if self.authority is not None:
                    self.authority.status.forget(m["org"], list(m["serials"]))
                link = self.agent(m["org"], m["host"])
                if link is not None and link.certificate_serial in m["serials"]:
                    await self.disconnect(link, "certificate revoked")
            case "recheck":
                await admission.recheck_here(self.db, self.clock, self, m["org"])
            case "ca":
                await self.reload_cas()

    async def reload_cas(self) -> None:
        if self.authority is None:
            return
        async with self.db.session() as s:
            await self.authority.load(s)

    async def _routed_join(self, m: wire.Message) -> None:
        conn, sender = m["conn"], m.sender
        join = remote_admission.RoutedJoin(
            m["org"], m["host"], m["owner"], m["user"], m["device"], m["session"], m["view_only"]
        )

        async def reply(error: str = "", message: str = "") -> None:
            await self.bus.to_replica(sender, "joined", conn=conn, error=error, message=message)

        if self.agent(join.org_id, join.host_id) is None:
            await reply(UnknownHost.code, "no such host is online")
            return
        admitted = await remote_admission.check(
            self.db, self.clock, self.policy, join, self.replica
        )
        if admitted is None:
            await reply("refused", "refused by the host's broker")
            return
        try:
            session = await super().join(
                join.org_id, join.host_id, _RoutedViewer(self, sender, conn), join.owner,
                admitted.identity, admitted.policy, view_only=admitted.view_only,
                closes_at=admitted.closes_at, session_id=join.session_id,
                device_id=join.device_id,
            )  # fmt: skip
        except RelayError as exc:
            await reply(exc.code, exc.message)
            return
        self._routed[conn] = session
        self.changed()
        await reply()

    # -- this replica's view, for the others ------------------------------------------------

    def view(self) -> tuple[list[Any], list[Any]]:
        hosts = []
        sessions = []
        for link in self.agents():
            busy = link.session is not None
            hosts.append(views.hosts_entry(link.org_id, HostInfo(link.host_id, link.name, busy)))
        for org_id in {link.org_id for link in self.agents() if link.session is not None}:
            sessions += [views.session_entry(org_id, s) for s in super().live_sessions(org_id)]
        return hosts, sessions

    async def keep_telling(self) -> None:
        """Broadcast this replica's view when it changed (at most every 0.2 s) and every
        ``directory.EVERY_S`` anyway; forever (cancelled at shutdown)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), views.EVERY_S)
            self._changed.clear()
            try:
                hosts, sessions = self.view()
                # Past wire.MAX_BYTES (some 15,000 agents on one replica) the view is not
                # sent (logged by the bus): the others then list this replica's hosts no more.
                await self.bus.to_all("view", hosts=hosts, sessions=sessions)
            except Exception:
                log.exception("this replica's view was not told; trying again")
            await asyncio.sleep(0.2)

    async def resubscribed(self) -> None:
        """Messages may have been lost while the bus was away: every session held here is
        checked against the grants again, and viewers routed from here are closed (their
        pages reconnect and are admitted afresh)."""
        for org_id in {link.org_id for link in self.agents() if link.session is not None}:
            await admission.recheck_here(self.db, self.clock, self, org_id)
        for link in self.agents():
            session = link.session
            if session is not None and self.fronts.of(session) is None:
                why = await remote_admission.refusal_now(self.db, self.clock, session)
                if why is not None:
                    await self.end(session, why, CloseCode.UNAUTHORIZED)
        for front in self.fronts.all():
            await self.fronts.close(front, "peer_failed", CloseCode.GOING_AWAY)

    # -- life -------------------------------------------------------------------------------

    async def start(self, authority: AgentAuthority) -> None:
        """Listen to the others, tell them what this replica holds, and announce the clinic
        CAs committed here (``ca_news``). Waits a bounded time to be subscribed: a replica
        starting while Redis is away starts anyway and subscribes once it is back."""
        self.authority = authority
        ca_news.watch(
            self.db.sessions, lambda org_id: self._spawn(self.elsewhere("ca", org=org_id))
        )
        self._life = [
            asyncio.create_task(self.bus.listen(self.receive, self.resubscribed)),
            asyncio.create_task(self.keep_telling()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.bus.subscribed.wait(), SUBSCRIBE_WAIT_S)

    async def stop(self) -> None:
        for task in [*self._life, *self._tasks]:
            await bus_stop(task)
        self._life = []

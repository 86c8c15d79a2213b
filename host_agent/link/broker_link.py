"""The agent's outbound link to the broker: dial out, say hello, serve sessions, reconnect.

The link goes to the broker's agent port with mutual TLS: the agent shows its client
certificate (``host_agent.trust.credentials``), made fresh for each connection so a renewed
certificate is used from the next one on.

The agent never listens on a port (DESIGN.md: a clinic opens no inbound port). It keeps one
WebSocket to the broker, reconnecting with capped exponential backoff and full jitter, and
runs at most one ``PeerSession`` at a time.

When the link drops because the broker went away (a restart's 1001/1012/1013 close, a crash's
cut connection, a broker that stopped answering), the live session is kept: its media is
peer-to-peer, and its guard (idle and maximum time, view-only, the input policy) keeps
running here. On the next link the agent re-registers it (``session_resume``); the broker
re-adopts it (``session_resumed``) or ends it with a ``bye``. One not re-adopted within
``RESUME_WINDOW_S`` ends here: without signaling the broker could not end it, and security
decisions fail closed. A link the broker closes for any other reason (a revoked
certificate, a refused message) ends the session at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

import mamori_protocol as protocol
from host_agent.input.injection import Injector
from host_agent.link.backoff import Backoff
from host_agent.version import VERSION
from host_agent.webrtc.peer_session import PeerSession, StreamSettings, close_quietly
from mamori_protocol import Direction, ProtocolError
from mamori_protocol.errors import SdpPolicyError

log = logging.getLogger(__name__)

# A link that was established (hello sent) and then stayed up this long counts as healthy:
# the next failure starts backoff afresh. An attempt that failed or timed out never does,
# however long it took: a 10 s timeout counted as "healthy" once made a restarted broker's
# fleet retry every ~10 s without backing off (issue 18, the reconnect storm).
HEALTHY_LINK_S: Final = 5.0
OPEN_TIMEOUT_S: Final = 10.0
# Keep-alive pings: a broker that went silent is noticed within interval + timeout.
PING_INTERVAL_S: Final = 10.0
PING_TIMEOUT_S: Final = 10.0
# How long a live session may run without a broker that adopted it (issue 18: the broker's
# own bound, MAMORI_SESSION_RESUME_S, is 60 s by default; this side never waits longer).
RESUME_WINDOW_S: Final = 60.0
# An attempt turned away before any TLS (nothing listens: a broker restarting; or the broker
# closed the connection unanswered: its queue of waiting connections full, or the wait over)
# cost the broker an accept at most, so the next one comes within this, however many failed
# before; the backoff still counts it. With the backoff's own ceilings a fleet that lost its
# broker for a 7 s restart drew waits of up to 16 s and came back over as long (issue 18).
# Not shorter: 2,000 agents retrying within 5 s made ~800 attempts a second while the
# broker was down (cheap for it, not for a load balancer, nor for the bench's fleet on the
# broker's own cores, where the restart then took 25 s instead of 7).
CHEAP_RETRY_CAP_S: Final = 10.0
# The longest "come back later" the agent believes (a broker's Retry-After beyond this is cut).
MAX_RETRY_AFTER_S: Final = 300.0
# Close codes with which a broker says "I am going away, come back" (RFC 6455 1001 going
# away, 1012 service restart, 1013 try again later): the agent waits a jittered while first.
_COME_BACK_LATER: Final = frozenset({1001, 1012, 1013})


@dataclass(frozen=True)
class LinkSettings:
    """Where and who the agent is."""

    broker_url: str  # wss://host:agent-port (the path /ws/agent is appended)
    host_id: str
    name: str
    # Verifies the broker and shows this host's certificate; called for every connection.
    ssl_context: Callable[[], ssl.SSLContext]


def retry_after(value: str | None) -> float:
    """A Retry-After header's seconds (RFC 9110 §10.2.3, the delay form), bounded; an
    absent or unreadable one still asks for a pause, so 5 s."""
    try:
        seconds = float(value) if value is not None else 5.0
    except ValueError:
        seconds = 5.0
    if not 0 <= seconds < float("inf"):
        seconds = 5.0
    return min(seconds, MAX_RETRY_AFTER_S)


class BrokerLink:
    """Runs the agent's connection loop until ``stop()``."""

    def __init__(
        self,
        settings: LinkSettings,
        stream: StreamSettings,
        injector: Injector,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        resume_window_s: float = RESUME_WINDOW_S,
    ) -> None:
        # Validate our own identity once: a bad host id would be refused by the broker forever.
        self._hello = protocol.AgentHello(settings.host_id, settings.name, VERSION)
        protocol.encode(self._hello)
        self._settings = settings
        self._stream = stream
        self._injector = injector
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._stopping = asyncio.Event()
        self._ws: ClientConnection | None = None
        self.session: PeerSession | None = None
        self._pending_session_id: str | None = None
        self._pending_start: protocol.SessionStart | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        # When the current attempt's link was established (hello sent); None until then.
        self._established_at: float | None = None
        # The broker's "come back later" (Retry-After of a 503, or a restart close): at
        # least this long before the next attempt.
        self._come_back_after_s = 0.0
        # The live session's link went away with the broker: it awaits re-adoption
        # (``_session_detached``: ends it after RESUME_WINDOW_S unless adopted first).
        self._detached: asyncio.Task[None] | None = None
        self.resume_window_s = resume_window_s
        self._session_started_at = 0.0
        # A kept session that ended while no broker had adopted it, not yet told to one
        # (``session_lost``, so the audit records its real end, not the restart's).
        self._lost: protocol.SessionLost | None = None
        # Whether the last link ended in a way a live session survives (see run()).
        self._resumable = False

    @property
    def session_detached(self) -> bool:
        """The live session runs without a broker that adopted it (yet)."""
        return self._detached is not None

    async def run(self) -> None:
        """Connect, serve, and reconnect until stopped."""
        while not self._stopping.is_set():
            self._established_at = None
            self._come_back_after_s = 0.0
            self._resumable = False
            turned_away = False
            try:
                await self._connect_and_serve()
            except InvalidStatus as exc:
                if exc.response.status_code == 503:
                    self._resumable = True
                    self._come_back_after_s = retry_after(exc.response.headers.get("Retry-After"))
                    log.warning(
                        "broker busy: coming back after %.0f s or later", self._come_back_after_s
                    )
                else:
                    log.error("broker refused the connection (certificate revoked?): %s", exc)
            except InvalidHandshake as exc:
                log.error("broker refused the connection (certificate revoked?): %s", exc)
            except (ConnectionRefusedError, ConnectionResetError, ssl.SSLEOFError) as exc:
                # Before the link was up: nobody listening, or closed before or during TLS.
                self._resumable = True
                turned_away = self._established_at is None
                log.warning("broker link lost: %s", exc)
            except ssl.SSLError as exc:
                log.error("TLS with the broker failed (certificate not accepted?): %s", exc)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in _COME_BACK_LATER:
                    self._broker_going_away(exc.rcvd.code)
                else:
                    # No close frame: the broker died or stopped answering (pings).
                    self._resumable = exc.rcvd is None
                    log.warning("broker link lost: %s", exc)
            except (OSError, TimeoutError) as exc:
                self._resumable = True
                log.warning("broker link lost: %s", exc)
            except ProtocolError as exc:
                log.error("broker sent an invalid message: %s", exc.reason)
            finally:
                self.connected.clear()
                if self._resumable and not self._stopping.is_set():
                    await self._detach_session()
                else:
                    await self._end_session()
            if self._stopping.is_set():
                break
            if (
                self._established_at is not None
                and self._clock() - self._established_at >= HEALTHY_LINK_S
            ):
                self._backoff.reset()
            delay = self._backoff.next_delay(CHEAP_RETRY_CAP_S if turned_away else None)
            if self._come_back_after_s:
                # Jittered on top, so a fleet told the same Retry-After does not return as one.
                delay = self._come_back_after_s + self._backoff.rng.uniform(
                    0, self._come_back_after_s
                )
            log.info("reconnecting to the broker in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()

    async def _connect_and_serve(self) -> None:
        url = self._settings.broker_url.rstrip("/") + "/ws/agent"
        async with connect(
            url,
            ssl=self._settings.ssl_context(),
            max_size=protocol.MAX_MESSAGE_BYTES,
            open_timeout=OPEN_TIMEOUT_S,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
        ) as ws:
            self._ws = ws
            await ws.send(protocol.encode(self._hello))
            await self._resume_session(ws)
            self._established_at = self._clock()
            self.connections += 1
            self.connected.set()
            log.info("connected to the broker as %s", self._hello.host_id)
            async for raw in ws:
                await self._handle(protocol.parse(raw, Direction.BROKER_TO_AGENT))
        if ws.close_code in _COME_BACK_LATER:
            self._broker_going_away(ws.close_code)
        elif ws.close_code not in (None, 1000):
            log.warning("broker closed the link: %s %s", ws.close_code, ws.close_reason)

    async def _detach_session(self) -> None:
        """Keep a live (answered) session through the broker's absence, for a bounded time;
        one still being set up cannot be finished without signaling, so it ends."""
        if self.session is None or self._pending_session_id is not None:
            await self._end_session()
            return
        if self._detached is None:
            log.info("session %s kept while the broker is away", self.session.session_id)
            self._detached = asyncio.create_task(self._expire_detached(self.session))

    async def _expire_detached(self, session: PeerSession) -> None:
        await asyncio.sleep(self.resume_window_s)
        if self.session is session:
            log.warning("session %s: no broker adopted it in time; ended", session.session_id)
            self._detached = None  # this task ends the session: it must not cancel itself
            await self._end_session()

    async def _resume_session(self, ws: ClientConnection) -> None:
        """Re-register the detached session on a new link (the broker answers
        ``session_resumed`` or a ``bye``), or tell how the one kept meanwhile ended."""
        if self._lost is not None:
            await ws.send(protocol.encode(self._lost))
            self._lost = None
        session = self.session
        if session is None or self._detached is None:
            return
        elapsed = int(self._clock() - self._session_started_at)
        resume = protocol.SessionResume(session.session_id, session.start.viewer_id, elapsed)
        await ws.send(protocol.encode(resume))

    def _broker_going_away(self, code: int) -> None:
        self._resumable = True
        # A broker restarting or draining: its whole fleet hears this at once, so the next
        # attempt waits a jittered second or more rather than the first backoff step.
        self._come_back_after_s = max(self._backoff.base_s, 1.0)
        log.info("broker going away (close %s): reconnecting later", code)

    async def _handle(self, message: protocol.Message) -> None:
        match message:
            case protocol.SessionResumed(session_id=sid):
                if self.session is not None and sid == self.session.session_id:
                    log.info("session %s re-adopted by the broker", sid)
                    self._cancel_detached()
            case protocol.SessionStart(session_id=sid):
                await self._end_session()
                self._pending_session_id = sid
                self._pending_start = message
                log.info("viewer %s joined: session %s", message.viewer_id, sid)
            case protocol.Offer(sdp=sdp, session_id=str(sid)) if (
                sid == self._pending_session_id and self._pending_start is not None
            ):
                await self._start_session(self._pending_start, sdp)
            case protocol.IceCandidate(candidate=c, sdp_mid=mid, sdp_mline_index=i, session_id=sid):
                if self.session is not None and sid == self.session.session_id:
                    await self.session.add_candidate(c, mid, i)
            case protocol.Bye(reason=reason, session_id=sid):
                if sid in {self._pending_session_id, getattr(self.session, "session_id", None)}:
                    log.info("session %s ended by broker: %s", sid, reason)
                    await self._end_session()
            case protocol.Error(code=code, message=text):
                log.warning("broker error %s: %s", code, text)
            case _:
                log.warning("ignored %s outside its session", message.TYPE)

    async def _start_session(self, start: protocol.SessionStart, offer_sdp: str) -> None:
        session_id = start.session_id

        async def ended(reason: str) -> None:
            if self.session is not None and self.session.session_id == session_id:
                kept = self._detached is not None  # no broker holds it: a bye would be lost
                self._cancel_detached()
                self.session = None
                self._pending_session_id = None
                if kept and reason in protocol.LOST_REASONS:
                    elapsed = int(self._clock() - self._session_started_at)
                    self._lost = protocol.SessionLost(session_id, start.viewer_id, elapsed, reason)
                    if await self._send(self._lost):  # a link is up, not yet re-adopted
                        self._lost = None
                    return
                await self._send(protocol.Bye(reason=reason, session_id=session_id))

        async def report(violation: str, detail: str) -> None:
            await self._send(protocol.Violation(violation, detail, session_id=session_id))

        async def activity() -> None:
            await self._send(protocol.Activity(session_id=session_id))

        session = PeerSession(start, self._stream, self._injector, ended, report, activity)
        self.session = session
        self._pending_session_id = None  # answered below (or ended): no longer pending
        self._session_started_at = self._clock()
        try:
            answer = await session.answer(offer_sdp)
        except SdpPolicyError:
            self.session = None
            await close_quietly(session)
            await self._send(protocol.Bye(reason="sdp_refused", session_id=session_id))
            return
        except Exception as exc:
            # A broken offer ends this session only, never the agent.
            log.warning("session %s: cannot answer the offer: %s", session_id, exc)
            self.session = None
            await close_quietly(session)
            await self._send(protocol.Bye(reason="bad_offer", session_id=session_id))
            return
        await self._send(protocol.Answer(sdp=answer, session_id=session_id))

    def _cancel_detached(self) -> None:
        if self._detached is not None:
            self._detached.cancel()
            self._detached = None

    async def _end_session(self) -> None:
        self._cancel_detached()
        session, self.session = self.session, None
        self._pending_session_id = None
        await close_quietly(session)

    async def _send(self, message: protocol.Message) -> bool:
        """Whether ``message`` went out on a link."""
        if self._ws is not None:
            try:
                await self._ws.send(protocol.encode(message))
                return True
            except ConnectionClosed:
                log.info("could not send %s: link closed", message.TYPE)
        return False

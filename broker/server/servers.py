"""The broker's two uvicorn servers in one process: the browser port (TLS 1.3) and the agent
port (mutual TLS, ``broker.server.agent_app``); the signaling frame limit; port discovery for tests.

Stopping (SIGTERM, or ``BrokerServers.stop``) drains first: new sessions are refused, live
ones are kept for the broker's return (``broker.signaling.adoption``: their viewers and
agents hear 1012 "service restart", keep the media and come back jittered; a session not
re-adopted in time is audited as ``broker_shutdown``), and the agent port stops before
the browser port's shutdown closes the shared database. Each server
gives its connections ``MAMORI_SHUTDOWN_GRACE_S`` and then cuts them, so an idle keep-alive
client (or a TLS peer that never answers close_notify, which asyncio waits 30 s for) cannot
hold the exit.

The agent port's TLS is set up here rather than by asyncio's ``create_server(ssl=...)``
(``broker.server.agent_tls``): a small read buffer per connection and a bound on
handshakes in progress, which is what lets a restarted broker take its fleet back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence

import uvicorn
from fastapi import FastAPI

from broker.config import Settings
from broker.server.agent_app import create_agent_app
from broker.server.agent_parking import ParkingQueue
from broker.server.agent_tls import AgentTlsFactory
from broker.server.tls_scope import TlsH11Protocol, TlsWebSocketProtocol
from mamori_protocol import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


class _BrowserPortServer(uvicorn.Server):
    """The browser port's server: it receives the signals, and drains the broker (``drain``)
    before its own connections and the database close."""

    drain: Callable[[], Awaitable[None]] | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.drain is not None:
            try:
                await self.drain()
            except Exception:
                log.exception("draining the broker failed; stopping anyway")
        await super().shutdown(sockets)


def build_server(settings: Settings, app: FastAPI) -> uvicorn.Server:
    """A uvicorn server for ``app`` with the TLS and WebSocket limits the broker requires."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert),
        ssl_keyfile=str(settings.tls_key),
        # Frames over the protocol limit are refused by the server itself (close 1009) before
        # they are buffered whole.
        ws_max_size=MAX_MESSAGE_BYTES,
        ws="websockets-sansio",
        # Logging is the broker's own (broker.ops.logs): uvicorn must not replace it.
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
        # X-Forwarded-For is believed from these addresses only: the lockout counts failures
        # per source address, which a client must not be able to choose.
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    config.load()
    if config.ssl is None:
        raise RuntimeError("uvicorn did not build a TLS context")
    # TLS 1.3 only (MHLW Q&A, CRYPTREC 高セキュリティ型): browsers and our agent speak it.
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_3
    return _BrowserPortServer(config)


class _AgentPortServer(uvicorn.Server):
    """The agent port's server leaves signals to the browser port's server, which stops
    both (two servers capturing signals would each restore the other's handlers)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Parked connections are no uvicorn connections yet: uvicorn would not close them.
        factory = self.config.http_protocol_class
        if isinstance(factory, AgentTlsFactory):
            factory.close_parked()
        await super().shutdown(sockets)

    def _log_started_message(self, listeners: Sequence[socket.SocketType]) -> None:
        # uvicorn would say http://: its config holds no TLS context, the protocol factory
        # does the TLS (AgentTlsFactory). Same words as uvicorn's, which tools look for.
        host, port = listeners[0].getsockname()[:2]
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on https://%s:%d (Press CTRL+C to quit)", host, port
        )


def build_agent_server(settings: Settings, app: FastAPI) -> uvicorn.Server:
    """The agent port: ``/ws/agent`` and ``/agent/renew`` over mutual TLS."""
    config = uvicorn.Config(
        create_agent_app(app),
        host=settings.agent_host,
        port=settings.agent_port,
        ssl_certfile=str(settings.tls_cert),
        ssl_keyfile=str(settings.tls_key),
        ws_max_size=MAX_MESSAGE_BYTES,
        # No permessage-deflate: its zlib state cost ~50 kB per idle agent (tracemalloc,
        # 300 agents) for small JSON messages, and compressing secrets beside data another
        # party shapes is how CRIME-style leaks work.
        ws_per_message_deflate=False,
        # uvicorn does not give the client certificate to the application; these do.
        ws=TlsWebSocketProtocol,
        http=TlsH11Protocol,
        lifespan="on",
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
        # Agents connect directly: the source address is the socket's.
        proxy_headers=False,
        # A silent agent (cut network) is noticed within interval + timeout (~15 s).
        ws_ping_interval=settings.agent_ping_interval_s,
        ws_ping_timeout=settings.agent_ping_timeout_s,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    config.load()
    # Client certificates required, trusted CAs = the organizations' (broker.agents.tls);
    # the TLS layer is made by the protocol factory (broker.server.agent_tls), not asyncio.
    config.ssl = None
    factory = AgentTlsFactory(
        config.http_protocol_class,
        app.state.agent_tls,
        settings.agent_handshake_limit,
        ParkingQueue(settings.agent_park_limit, settings.agent_park_s),
        app.state.agent_gate,
        app.state.agent_registrations,
    )
    config.http_protocol_class = factory  # type: ignore[assignment]
    # Its parking's counts are read by the metrics and the tests.
    app.state.agent_admission = factory
    return _AgentPortServer(config)


def bound_port(server: uvicorn.Server) -> int:
    """The TCP port a started server listens on (port 0 in settings picks a free one)."""
    for listener in server.servers:
        for sock in listener.sockets:
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("server is not listening")


def publish_origin(app: FastAPI, settings: Settings, server: uvicorn.Server) -> None:
    """With port 0 in settings, the public origin is known only once the server is bound."""
    if settings.port == 0 and not settings.public_url:
        app.state.origin = settings.origin(bound_port(server))


def _abort_leftovers(server: uvicorn.Server, closing_only: bool = False) -> None:
    """Drop connections still open once a server has stopped (a TLS peer that never answered
    close_notify): closed now, not left to the garbage collector, whose ResourceWarning
    surfaced in a later test (the fuzz run's leftover connection).

    ``closing_only``, before the server stops: drop those whose TLS close is already under
    way (a peer gone, as a viewer whose network changed: its idle keep-alive connections).
    uvicorn's shutdown would close them a second time, and asyncio's TLS transport closed
    twice forgets its connection (``_SSLProtocolTransport.close`` drops ``_ssl_protocol``),
    so the abort afterwards did nothing and the socket outlived the broker (issue 16)."""
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if isinstance(transport, asyncio.Transport) and (
            transport.is_closing() or not closing_only
        ):
            transport.abort()


class BrokerServers:
    """Both servers of one broker: started browser port first (it migrates the database),
    stopped together."""

    def __init__(self, settings: Settings, app: FastAPI) -> None:
        self.settings = settings
        self.app = app
        self.web = build_server(settings, app)
        self.agents = build_agent_server(settings, app)
        self._tasks: list[asyncio.Task[None]] = []
        self._drained = False
        if isinstance(self.web, _BrowserPortServer):
            self.web.drain = self.drain

    @staticmethod
    async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("a broker server exited during start")
            await asyncio.sleep(0.02)

    async def start(self) -> None:
        web = asyncio.create_task(self.web.serve())
        self._tasks.append(web)
        await self._started(self.web, web)
        publish_origin(self.app, self.settings, self.web)
        agents = asyncio.create_task(self.agents.serve())
        self._tasks.append(agents)
        await self._started(self.agents, agents)
        self.app.state.agent_url = self.settings.agent_url(bound_port(self.agents))

    @property
    def port(self) -> int:
        return bound_port(self.web)

    @property
    def agent_port(self) -> int:
        return bound_port(self.agents)

    async def wait(self) -> None:
        """Until either server stops (a signal stops the browser port's)."""
        await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def drain(self) -> None:
        """Suspend live sessions (kept for re-adoption), refuse new ones, stop the agent
        port. Once; bounded by the grace period twice (the sessions' rows, the agent port)."""
        if self._drained:
            return
        self._drained = True
        grace = self.settings.shutdown_grace_s
        try:
            async with asyncio.timeout(grace):
                kept = await self.app.state.adoption.suspend_all()
            log.info("draining: %d live session(s) kept for the broker's return", kept)
        except TimeoutError:
            log.error("draining: live sessions not all suspended within %.1f s", grace)
        if len(self._tasks) > 1:
            await self._stop_server(self.agents, self._tasks[1], grace * 2)

    @staticmethod
    async def _stop_server(server: uvicorn.Server, task: asyncio.Task[None], limit: float) -> None:
        _abort_leftovers(server, closing_only=True)
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), limit)
        except TimeoutError:
            log.error("a broker server did not stop within %.1f s", limit)
        finally:
            _abort_leftovers(server)

    async def stop(self, timeout_s: float = 15) -> None:
        """Drain (agent port first), then the browser port, whose shutdown closes the
        shared database."""
        try:
            await self.drain()
        finally:
            for server, task in reversed(
                list(zip((self.web, self.agents), self._tasks, strict=False))
            ):
                await self._stop_server(server, task, timeout_s)


async def serve(settings: Settings, app: FastAPI) -> None:
    """Run both servers until a signal (or either failing) stops them."""
    servers = BrokerServers(settings, app)
    try:
        await servers.start()
        await servers.wait()
    finally:
        await servers.stop()

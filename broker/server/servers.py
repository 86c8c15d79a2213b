"""The broker's two uvicorn servers in one process: the browser port (TLS 1.3) and the agent
port (mutual TLS, ``broker.server.agent_app``); the signaling frame limit; port discovery for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from broker.config import Settings
from broker.server.agent_app import create_agent_app
from broker.server.tls_scope import TlsH11Protocol, TlsWebSocketProtocol
from mamori_protocol import MAX_MESSAGE_BYTES


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
        log_level="info",
        access_log=False,
        server_header=False,
        # X-Forwarded-For is believed from these addresses only: the lockout counts failures
        # per source address, which a client must not be able to choose.
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
    )
    config.load()
    if config.ssl is None:
        raise RuntimeError("uvicorn did not build a TLS context")
    # TLS 1.3 only (MHLW Q&A, CRYPTREC 高セキュリティ型): browsers and our agent speak it.
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_3
    return uvicorn.Server(config)


class _AgentPortServer(uvicorn.Server):
    """The agent port's server leaves signals to the browser port's server, which stops
    both (two servers capturing signals would each restore the other's handlers)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_agent_server(settings: Settings, app: FastAPI) -> uvicorn.Server:
    """The agent port: ``/ws/agent`` and ``/agent/renew`` over mutual TLS."""
    config = uvicorn.Config(
        create_agent_app(app),
        host=settings.agent_host,
        port=settings.agent_port,
        ssl_certfile=str(settings.tls_cert),
        ssl_keyfile=str(settings.tls_key),
        ws_max_size=MAX_MESSAGE_BYTES,
        # uvicorn does not give the client certificate to the application; these do.
        ws=TlsWebSocketProtocol,
        http=TlsH11Protocol,
        lifespan="on",
        log_level="info",
        access_log=False,
        server_header=False,
        # Agents connect directly: the source address is the socket's.
        proxy_headers=False,
    )
    config.load()
    # Client certificates required, trusted CAs = the organizations' (broker.agents.tls).
    config.ssl = app.state.agent_tls
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


def _abort_leftovers(server: uvicorn.Server) -> None:
    """Drop connections still open once a server has stopped (a TLS peer that never answered
    close_notify): closed now, not left to the garbage collector, whose ResourceWarning
    surfaced in a later test (the fuzz run's leftover connection)."""
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if isinstance(transport, asyncio.Transport):
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

    async def stop(self, timeout_s: float = 15) -> None:
        """Agent port first: the browser port's shutdown closes the shared database."""
        for server, task in reversed(list(zip((self.web, self.agents), self._tasks, strict=False))):
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout_s)
            finally:
                _abort_leftovers(server)


async def serve(settings: Settings, app: FastAPI) -> None:
    """Run both servers until a signal (or either failing) stops them."""
    servers = BrokerServers(settings, app)
    try:
        await servers.start()
        await servers.wait()
    finally:
        await servers.stop()

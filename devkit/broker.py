"""A real broker on its two real uvicorn servers (browser port and agent port, both port 0),
TLS from a real per-test CA, and a real database (a fresh SQLite file by default, or
PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import secrets
import ssl
import tempfile
import threading
import warnings
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.server.app import create_app
from broker.server.servers import BrokerServers
from certs.authority import ServerFiles, write_dev_server_files

T = TypeVar("T")


def random_secret_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@dataclass
class RunningBroker:
    app: FastAPI
    settings: Settings
    port: int
    certs: ServerFiles
    agent_port: int = 0
    # Where it listens (the network tier runs one on a documentation address).
    address: str = "127.0.0.1"

    @property
    def https_url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def wss_url(self) -> str:
        return f"wss://{self.address}:{self.port}"

    @property
    def agent_wss_url(self) -> str:
        """The agent port (mutual TLS)."""
        return f"wss://{self.address}:{self.agent_port}"

    @property
    def agent_https_url(self) -> str:
        return f"https://{self.address}:{self.agent_port}"

    @property
    def origin(self) -> str:
        """The Origin a page served by this broker at 127.0.0.1 sends."""
        return self.https_url

    @property
    def public_origin(self) -> str:
        """The origin WebAuthn and links use (https://localhost:PORT)."""
        origin: str = self.app.state.origin
        return origin

    @property
    def clock(self) -> Clock:
        clock: Clock = self.app.state.clock
        return clock

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    def client_ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certs.ca_cert))

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.https_url, verify=self.client_ssl(), timeout=30, **kwargs
        )


def make_certs(directory: Path) -> ServerFiles:
    return write_dev_server_files(directory, ["127.0.0.1", "localhost"])


@contextlib.asynccontextmanager
async def running_broker(
    certs: ServerFiles, database_url: str, port: int = 0, **overrides: Any
) -> AsyncIterator[RunningBroker]:
    """Start a broker in this event loop (migrating its database); stop it on exit. Its data
    folder (the audit signing key) is a fresh temporary one unless ``data_dir`` is given.

    ``overrides`` are settings by field name, validated like the environment's;
    ``unchecked={...}`` sets values production refuses (see ``_running_broker``)."""
    data_dir = overrides.pop("data_dir", None)
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mamori-")))
        async with _running_broker(certs, database_url, port, data_dir, **overrides) as running:
            yield running


@contextlib.asynccontextmanager
async def _running_broker(
    certs: ServerFiles, database_url: str, port: int, data_dir: Path, **overrides: Any
) -> AsyncIterator[RunningBroker]:
    # Values production refuses (a 9-second certificate) for tests that need time to pass
    # quickly: set after validation, by name, so a typo still fails.
    unchecked: dict[str, Any] = overrides.pop("unchecked", {})
    if unknown := set(unchecked) - set(Settings.model_fields):
        raise TypeError(f"not settings: {sorted(unknown)}")
    settings = Settings(
        environment="production",
        secret_key=overrides.pop("secret_key", None) or random_secret_key(),
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        database_url=database_url,
        host=overrides.pop("host", "127.0.0.1"),
        port=port,
        agent_port=overrides.pop("agent_port", 0),
        data_dir=data_dir,
        # Browser and agent share this machine's loopback in most tests; the network tier
        # and the candidate tests turn it off.
        ice_loopback=overrides.pop("ice_loopback", True),
        # The production default (outside opening hours) would make a test's session lock
        # the display's input or not depending on the time of day the suite runs; tests of
        # the privacy screen ask for it.
        block_local_input=overrides.pop("block_local_input", "off"),
        **overrides,
    ).model_copy(update=unchecked)
    app = create_app(settings)
    servers = BrokerServers(settings, app)
    for server in (servers.web, servers.agents):
        # A fuzzed request can leave a connection half-sent; stopping must not wait on it.
        server.config.timeout_graceful_shutdown = 5
    try:
        await servers.start()
        yield RunningBroker(
            app, settings, servers.port, certs, servers.agent_port, address=settings.host
        )
    finally:
        await servers.stop()


class ThreadedBroker:
    """A running broker on its own event loop in a thread, for synchronous callers
    (the fuzz run drives it with schemathesis and requests)."""

    def __init__(self, certs: ServerFiles, database_url: str) -> None:
        self._certs = certs
        self._url = database_url
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.broker: RunningBroker | None = None
        self._thread = threading.Thread(target=self._run, name="broker", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with running_broker(self._certs, self._url) as running:
                self.broker = running
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread in start()
            self._error = exc
            self._ready.set()
        finally:
            # Known and not understood yet: after the fuzz run one client connection (a TLS
            # handshake never finished, as far as we can tell) is still open when the server
            # stops; uvicorn gives up after timeout_graceful_shutdown and its transport is
            # left for the garbage collector. Collect it here, in this thread, so the
            # ResourceWarning does not surface in whichever test runs next.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()

    def start(self) -> RunningBroker:
        self._thread.start()
        if not self._ready.wait(60) or self.broker is None:
            raise RuntimeError(f"broker did not start: {self._error!r}")
        return self.broker

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the broker's loop and wait for its result."""
        if self.loop is None:
            raise RuntimeError("not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

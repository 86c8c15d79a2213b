"""A real broker on a real uvicorn server, port 0, TLS from a real per-test CA."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from fastapi import FastAPI

from broker.app import create_app
from broker.config import Settings
from broker.security.access_links import SESSION_COOKIE
from broker.server import bound_port, build_server
from certs.authority import ServerFiles, write_dev_server_files


@dataclass
class RunningBroker:
    app: FastAPI
    settings: Settings
    port: int
    certs: ServerFiles

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.https_url

    def client_ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certs.ca_cert))

    def access_link(self) -> str:
        return f"{self.https_url}/access/{self.app.state.access_links.issue_link_token()}"

    def session_cookie(self) -> str:
        """A live browser session, obtained the way a person gets one: by a one-time link."""
        token = self.app.state.access_links.issue_link_token()
        session = self.app.state.access_links.redeem(token)
        assert session is not None
        return f"{SESSION_COOKIE}={session}"

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.https_url, verify=self.client_ssl())


def make_certs(directory: Path) -> ServerFiles:
    return write_dev_server_files(directory, ["127.0.0.1", "localhost"])


@contextlib.asynccontextmanager
async def running_broker(
    certs: ServerFiles, port: int = 0, agent_token: str | None = None
) -> AsyncIterator[RunningBroker]:
    """Start a broker in this event loop; stop it on exit."""
    settings = Settings(
        environment="production",
        agent_token=agent_token or secrets.token_urlsafe(32),
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        host="127.0.0.1",
        port=port,
    )
    settings.validate()
    app = create_app(settings)
    server = build_server(settings, app)
    server.config.log_level = "warning"
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("broker exited during start")
            await asyncio.sleep(0.02)
        yield RunningBroker(app, replace(settings), bound_port(server), certs)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)

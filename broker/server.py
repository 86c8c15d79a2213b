"""The broker's uvicorn server: TLS 1.3, the signaling frame limit, port discovery for tests."""

from __future__ import annotations

import ssl

import uvicorn
from fastapi import FastAPI

from broker.config import Settings
from broker.protocol import MAX_MESSAGE_BYTES


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

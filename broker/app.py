"""The broker's ASGI application: routes, security headers and the web client's files."""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from broker.api import access, hosts
from broker.config import Settings
from broker.security.access_links import AccessLinks
from broker.signaling import endpoints
from broker.signaling.relay import Relay

# No inline script or style anywhere: the client is ES modules and one stylesheet, so the
# policy can be 'self' only. frame-ancestors 'none' stops clickjacking of the viewer.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The viewer needs none of these; clipboard access in particular must stay impossible.
PERMISSIONS_POLICY: Final = (
    "clipboard-read=(), clipboard-write=(), camera=(), microphone=(), geolocation=(), "
    "display-capture=(), usb=(), serial=(), hid=(), payment=()"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
    # Nothing the broker serves may linger in a shared or home PC's cache.
    "Cache-Control": "no-store",
}


class ClientFiles(StaticFiles):
    """The web client's files; only browser asset types are served (never ``__init__.py``)."""

    SUFFIXES: Final = frozenset({".html", ".js", ".css", ".svg", ".png", ".ico", ".woff2"})

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        full_path, found = super().lookup_path(path)
        if found is None or stat.S_ISDIR(found.st_mode):
            return full_path, found  # a directory is answered with its index.html, or 404
        if Path(full_path).suffix not in self.SUFFIXES:
            return "", None
        return full_path, found


def web_client_dir() -> Path:
    """Where the browser client's files are, installed or in a checkout."""
    return Path(str(resources.files("web_client")))


def create_app(settings: Settings) -> FastAPI:
    """Build the broker application for these (already validated) settings."""
    app = FastAPI(title="Mamori broker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.relay = Relay()
    app.state.access_links = AccessLinks(settings.access_link_ttl_s, settings.session_ttl_s)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.include_router(access.router)
    app.include_router(hosts.router)
    app.include_router(endpoints.router)
    app.mount("/", ClientFiles(directory=web_client_dir(), html=True), name="web_client")
    return app

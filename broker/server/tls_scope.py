"""The ASGI TLS extension (``scope["extensions"]["tls"]``) for uvicorn, which does not fill it.

The agent port decides who an agent is by its client certificate, so the application must
see the certificate the TLS handshake verified. uvicorn keeps the connection's transport
(whose ``ssl_object`` has it) inside its protocol objects; these subclasses of its h11 and
websockets-sansio protocols wrap the application so each HTTP and WebSocket scope carries
the TLS extension as the ASGI spec describes it: ``client_cert_chain`` (PEM; the leaf only,
since Python before 3.13 cannot give the verified chain) and ``tls_version``. The other
keys are None: Python's ssl module cannot give them. A plain-TCP connection gets no entry.

On the agent port the connection's handshake slot (``broker.server.agent_tls``) rides along
as ``scope["extensions"]["mamori.handshake_slot"]``: ``/ws/agent`` hands it over to its
registration bound; any other request gives it back once answered.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, Final, cast

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from broker.signaling.agent_gate import SLOT_EXTENSION

# The transport's extra info holding it (broker.server.agent_tls.SLOT_EXTRA).
_SLOT_EXTRA: Final = "mamori_handshake_slot"

# TLS's own version numbers (RFC 8446 §4.2.1), as the ASGI TLS extension wants them.
_TLS_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, object]:
    """The ASGI TLS extension's entry for a connection whose handshake is done."""
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


def _with_tls(
    app: ASGI3Application, transport_of: Callable[[], asyncio.BaseTransport | None]
) -> ASGI3Application:
    async def app_with_tls(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        transport = transport_of()
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        slot = transport.get_extra_info(_SLOT_EXTRA) if transport is not None else None
        if scope["type"] != "lifespan" and isinstance(ssl_object, ssl.SSLObject):
            mutable = cast(dict[str, Any], scope)
            mutable["extensions"] = {
                **(mutable.get("extensions") or {}),
                "tls": tls_extension(ssl_object),
                **({SLOT_EXTENSION: slot} if slot is not None else {}),
            }
        try:
            await app(scope, receive, send)
        finally:
            if slot is not None:
                slot.release()

    return app_with_tls


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 HTTP protocol, filling the TLS extension."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _with_tls(self.app, lambda: getattr(self, "transport", None))


class TlsWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio WebSocket protocol, filling the TLS extension; a peer that
    misses its keep-alive ping is cut at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _with_tls(self.app, lambda: getattr(self, "transport", None))

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        # A peer that answers no ping answers no TLS close_notify either: uvicorn's close
        # waits for it (asyncio's ssl_shutdown_timeout, 30 s) before the application hears
        # the link is gone, and the host stayed "online" meanwhile (issue 18: 54-61 s).
        transport = getattr(self, "transport", None)
        if transport is not None:
            transport.abort()

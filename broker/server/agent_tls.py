"""The agent port's TLS layer: a small read buffer per connection, and a bound on TLS
handshakes in progress (issue 18, the reconnect storm).

uvicorn hands its TLS context to asyncio (``create_server(ssl=...)``), which gives every
connection an ``SSLProtocol`` with a 256 KiB read buffer, made and zeroed at accept and kept
for the connection's life, and starts a handshake for every connection it accepts. With
2,000 agents coming back to a restarted broker that was the collapse measured here: the
buffer was ~260 of an idle agent's ~410 kB and its zeroing the largest single cost of an
accept (37 % of the broker's CPU samples, more than the handshakes' cryptography), and the
broker kept starting handshakes for agents that had already given up waiting (their 10 s
open timeout) while the listen queue held thousands more: none of the 2,000 came back.

So the agent server gets no context from uvicorn; ``AgentTlsFactory`` is its protocol
factory and wraps uvicorn's protocol in ``_AgentTls`` itself:

- the read buffer is ``TLS_READ_BUFFER_BYTES``: it only receives ciphertext from the socket
  (``recv_into``), a TLS record is at most 16 KiB + 256 bytes, and nothing on this port is
  bulk (frames and bodies are capped far below). It is one buffer for all the server's
  connections, not one each (16 kB of an idle agent's ~115 kB): the event loop asks for the
  buffer, reads into it and hands it to ``buffer_updated`` in one go, and ``buffer_updated``
  copies the bytes into the connection's own ``MemoryBIO`` before it returns, so no
  connection's bytes are ever left in it while another's are read;
- at most ``limit`` TLS handshakes run at once; one more connection is closed at once (no
  TLS, no buffer: costs an accept), and the agent backs off as after any failed attempt;
- a handshake not done within ``HANDSHAKE_TIMEOUT_S`` (asyncio's default is 60 s) is cut:
  the agent gave up on it after its own 10 s anyway.

``asyncio.sslproto.SSLProtocol`` is what asyncio itself uses for ``ssl=``; its ``max_size``
class attribute is the buffer size it allocates.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any, Final

TLS_READ_BUFFER_BYTES: Final = 16 * 1024 + 256
HANDSHAKE_TIMEOUT_S: Final = 10


class _Refused(asyncio.Protocol):
    """Too many handshakes in progress: close before any TLS."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:
            transport.close()


class _AgentTls(sslproto.SSLProtocol):
    max_size = TLS_READ_BUFFER_BYTES

    def __init__(
        self,
        app_protocol: asyncio.BaseProtocol,
        context: ssl.SSLContext,
        factory: AgentTlsFactory,
    ) -> None:
        super().__init__(
            asyncio.get_running_loop(),
            app_protocol,
            context,
            None,  # type: ignore[arg-type]  # no waiter: nobody awaits the handshake
            server_side=True,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S,
        )
        self._factory: AgentTlsFactory | None = factory
        # The shared read buffer (see the module's docstring); SSLProtocol's own, made just
        # now, is dropped.
        self._ssl_buffer = factory.read_buffer
        self._ssl_buffer_view = memoryview(factory.read_buffer)

    def get_buffer(self, n: int) -> memoryview:
        return self._ssl_buffer_view

    def _handshake_over(self) -> None:
        if self._factory is not None:
            self._factory.handshakes -= 1
            self._factory = None

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        # Called once the handshake succeeded or failed (and again from connection_lost).
        self._handshake_over()
        super()._on_handshake_complete(handshake_exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._handshake_over()
        super().connection_lost(exc)


class AgentTlsFactory:
    """uvicorn's ``http_protocol_class`` for the agent port: each connection's protocol is
    ``protocol_class`` (called as uvicorn calls it) inside ``_AgentTls``."""

    def __init__(
        self, protocol_class: Callable[..., asyncio.Protocol], context: ssl.SSLContext, limit: int
    ) -> None:
        self.protocol_class = protocol_class
        self.context = context
        self.limit = limit
        self.handshakes = 0
        self.refused = 0
        # One per server, so one per event loop (the sharing is safe within one loop only).
        self.read_buffer = bytearray(TLS_READ_BUFFER_BYTES)

    def __call__(self, **kwargs: Any) -> asyncio.BaseProtocol:
        if self.handshakes >= self.limit:
            self.refused += 1
            return _Refused()
        self.handshakes += 1
        return _AgentTls(self.protocol_class(**kwargs), self.context, self)

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
- at most ``limit`` TLS handshakes run at once, and fewer while agents past their TLS
  handshake wait for registration (the endpoint's ``HandshakeGate``: a handshake let
  through while that gate is full would only end in a 503 after all its cryptography);
  one more connection is *parked* (``broker.server.agent_parking``: accepted, no TLS, no
  buffer, first come first served, bounded in count and time) and its handshake starts as
  soon as a slot frees; past the parking's bound it is closed before any TLS;
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

from broker.server.agent_parking import ParkingQueue
from broker.signaling.agent_gate import HandshakeGate
from broker.signaling.agent_registrations import AgentRegistrations

TLS_READ_BUFFER_BYTES: Final = 16 * 1024 + 256
HANDSHAKE_TIMEOUT_S: Final = 10
# The transport's extra info under which a connection's handshake slot is found.
SLOT_EXTRA: Final = "mamori_handshake_slot"


class _Refused(asyncio.Protocol):
    """Too many handshakes in progress and the parking full: close before any TLS."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:
            transport.close()


class _AgentTls(sslproto.SSLProtocol):
    """asyncio's TLS protocol with a small buffer, holding one handshake slot from its
    start until the application takes the agent into its registration bound (or the
    request is not an agent's link, or the connection ends): a slot freed at the end of
    the TLS handshake would let the next parked connection through while this one is still
    on its way to the endpoint's gate, and that gate would answer it 503 after a full
    handshake (measured: 373 of them for 500 agents)."""

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
        self._slot_timer: asyncio.TimerHandle | None = None
        # Seen by the application through the transport (broker.server.tls_scope).
        self._extra[SLOT_EXTRA] = self
        # The shared read buffer (see the module's docstring); SSLProtocol's own, made just
        # now, is dropped.
        self._ssl_buffer = factory.read_buffer
        self._ssl_buffer_view = memoryview(factory.read_buffer)

    def get_buffer(self, n: int) -> memoryview:
        return self._ssl_buffer_view

    def release(self) -> None:
        """Give the handshake slot back (once; later calls do nothing)."""
        if self._slot_timer is not None:
            self._slot_timer.cancel()
            self._slot_timer = None
        if self._factory is not None:
            self._factory.handshakes -= 1
            factory, self._factory = self._factory, None
            factory.slot_freed()

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        # Called once the handshake succeeded or failed (and again from connection_lost).
        if handshake_exc is not None:
            self.release()
        elif self._factory is not None and self._slot_timer is None:
            # A peer that completes TLS and then sends no request keeps no slot for long.
            self._slot_timer = self._loop.call_later(HANDSHAKE_TIMEOUT_S, self.release)
        super()._on_handshake_complete(handshake_exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.release()
        super().connection_lost(exc)


class AgentTlsFactory:
    """uvicorn's ``http_protocol_class`` for the agent port: each connection's protocol is
    ``protocol_class`` (called as uvicorn calls it) inside ``_AgentTls``, started at once
    or once parked connections before it have had their turn."""

    def __init__(
        self,
        protocol_class: Callable[..., asyncio.Protocol],
        context: ssl.SSLContext,
        limit: int,
        parking: ParkingQueue,
        gate: HandshakeGate | None = None,
        registrations: AgentRegistrations | None = None,
    ) -> None:
        self.protocol_class = protocol_class
        self.context = context
        self.limit = limit
        self.parking = parking
        self.gate = gate
        self.handshakes = 0
        # One per server, so one per event loop (the sharing is safe within one loop only).
        self.read_buffer = bytearray(TLS_READ_BUFFER_BYTES)
        # uvicorn calls the factory with the same keyword arguments for every connection
        # (config, server state, app state, loop): a parked connection's are these.
        self._kwargs: dict[str, Any] = {}
        self.registrations = registrations
        if gate is not None:
            gate.on_leave = self.slot_freed
        if registrations is not None:
            registrations.on_dequeue = self.slot_freed

    @property
    def refused(self) -> int:
        """Connections closed before any TLS: the parking was full, or their wait ran out."""
        return self.parking.refused + self.parking.expired

    def _slot_free(self) -> bool:
        registering = self.gate.in_progress if self.gate is not None else 0
        queued = self.registrations.queued if self.registrations is not None else 0
        return self.handshakes + registering + queued < self.limit

    def __call__(self, **kwargs: Any) -> asyncio.BaseProtocol:
        self._kwargs = kwargs
        if self._slot_free() and not len(self.parking):
            return self._start()
        parked = self.parking.park()
        return parked if parked is not None else _Refused()

    def _start(self) -> _AgentTls:
        self.handshakes += 1
        return _AgentTls(self.protocol_class(**self._kwargs), self.context, self)

    def slot_freed(self) -> None:
        """A handshake or a registration ended: parked connections start theirs, oldest
        first, while slots are free."""
        while self._slot_free():
            transport = self.parking.next()
            if transport is None:
                return
            tls = self._start()
            transport.set_protocol(tls)
            tls.connection_made(transport)
            transport.resume_reading()

    def close_parked(self) -> None:
        self.parking.close_all()

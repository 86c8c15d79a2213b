"""The agent port's TLS: a client certificate from an organization's agent CA, or nothing.

The context requires a client certificate and trusts exactly the organizations' agent CAs
(added as they are made, ``trust``), so a certificate from any other CA, an expired one (by
the OS clock) or none at all fails the TLS handshake: no HTTP request is ever read from
such a peer. TLS 1.3 only by default; ``MAMORI_AGENT_TLS12`` admits TLS 1.2 with ECDHE and
AEAD ciphers only (CRYPTREC's list) for older agent platforms.

Refused handshakes are audited (``agent_refused``, reason ``tls``) through a hook on the
context's SSLObject class, since asyncio drops them silently. The TLS layer does not know
the peer's address there, and anyone can cause a failed handshake, so these records are
limited to ``MAX_TLS_AUDITS_PER_MINUTE``; the next record counts what was left out.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import ClassVar, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database

log = logging.getLogger(__name__)

TLS12_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"
MAX_TLS_AUDITS_PER_MINUTE: Final = 60
# A peer that closes before finishing the handshake (a port probe) refused nothing.
_NOT_REFUSALS: Final = (ssl.SSLEOFError, ssl.SSLZeroReturnError)


class HandshakeAudit:
    """Writes an audit record for each refused TLS handshake, at most 60 a minute."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._window_start = time.monotonic()
        self._in_window = 0
        self._left_out = 0
        self._writes: set[asyncio.Task[None]] = set()

    def refused(self, exc: ssl.SSLError) -> None:
        """Called from inside the handshake (synchronous): schedule the write."""
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        log.warning("agent port: TLS handshake refused: %s", reason)
        now = time.monotonic()
        if now - self._window_start >= 60:
            self._window_start, self._in_window = now, 0
        if self._in_window >= MAX_TLS_AUDITS_PER_MINUTE:
            self._left_out += 1
            return
        self._in_window += 1
        detail = f"reason=tls {exc.reason or ''}: {reason}"
        if self._left_out:
            detail += f" (+{self._left_out} not recorded)"
            self._left_out = 0
        try:
            task = asyncio.get_running_loop().create_task(self._write(detail))
        except RuntimeError:
            return
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, detail: str) -> None:
        try:
            async with self._db.session() as s:
                record(
                    s,
                    Actor("tls", name="agent"),
                    Event.AGENT_REFUSED,
                    Outcome.DENIED,
                    self._clock.now(),
                    detail=detail,
                )
                await s.commit()
        except Exception:
            log.exception("could not audit a refused TLS handshake")

    async def drain(self) -> None:
        """Wait for the records being written (shutdown, tests)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)


class _WatchedHandshake(ssl.SSLObject):
    """An SSLObject that reports a failed handshake before asyncio swallows it."""

    audit: ClassVar[HandshakeAudit | None] = None

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, *_NOT_REFUSALS):
            raise
        except ssl.SSLError as exc:
            if self.audit is not None:
                self.audit.refused(exc)
            raise


def agent_tls_context(settings: Settings, audit: HandshakeAudit | None) -> ssl.SSLContext:
    """The agent port's server context; it trusts no CA until ``trust`` adds one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_2 if settings.agent_tls12 else ssl.TLSVersion.TLSv1_3
    )
    context.set_ciphers(TLS12_CIPHERS)  # TLS 1.2 only; 1.3's suites are all AEAD
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.sslobject_class = type("AgentHandshake", (_WatchedHandshake,), {"audit": audit})
    return context


def trust(context: ssl.SSLContext, ca: x509.Certificate) -> None:
    """Accept client certificates from ``ca`` in every handshake from now on."""
    context.load_verify_locations(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())


def peer_certificate(scope: object) -> x509.Certificate | None:
    """The client certificate the TLS handshake verified (ASGI TLS extension), or None."""
    if not isinstance(scope, dict):
        return None
    tls = (scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, dict):
        return None
    chain = tls.get("client_cert_chain") or []
    if not chain or not isinstance(chain[0], str):
        return None
    try:
        return x509.load_pem_x509_certificate(chain[0].encode())
    except ValueError:
        return None

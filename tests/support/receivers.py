"""Where alerts go in tests: a real SMTP sink (aiosmtpd) and a real HTTP receiver (uvicorn),
each listening on 127.0.0.1 port 0 in the test's event loop.

The webhook receiver checks the HMAC signature the way a clinic's receiver would
(``webhooks.signature_valid``) and answers 401 to a bad one; it can be told to fail the
first requests, or to answer slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session

from broker.alerts.webhooks import signature_valid


@dataclass
class Received:
    """One mail as the sink got it."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage


class _SinkHandler:
    def __init__(self, inbox: list[Received], arrived: asyncio.Event) -> None:
        self._inbox = inbox
        self._arrived = arrived

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        if not isinstance(parsed, EmailMessage):
            raise TypeError("the default policy parses to EmailMessage")
        self._inbox.append(
            Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed)
        )
        self._arrived.set()
        return "250 OK"


@dataclass
class SmtpSink:
    port: int
    inbox: list[Received]
    arrived: asyncio.Event

    async def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.inbox) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.inbox)} of {count} mails arrived")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.2)
        return self.inbox

    async def wait_for_subject(self, words: str, timeout: float = 15) -> Received:
        """The one mail whose subject holds ``words`` (others, e.g. a new device's or an
        after-hours sign-in's own alert, may arrive around it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.inbox if words in str(m.message["Subject"])]
            if len(found) > 1:
                raise AssertionError(f"{len(found)} mails about {words}")
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail about {words}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.2)


@contextlib.asynccontextmanager
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    """An aiosmtpd server on a free port of 127.0.0.1 (no TLS, no auth: a sink)."""
    inbox: list[Received] = []
    arrived = asyncio.Event()
    handler = _SinkHandler(inbox, arrived)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", enable_SMTPUTF8=True),
        "127.0.0.1",
        0,
    )
    try:
        yield SmtpSink(server.sockets[0].getsockname()[1], inbox, arrived)
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each POST with the next status of ``plan`` (then 200), after ``delay_s``;
    a bad signature gets 401 whatever the plan says."""

    secret: bytes | None = None
    plan: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]

    async def wait_for(self, count: int, timeout: float = 15) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} requests arrived")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.2)
        return self.requests

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode().title(): v.decode() for k, v in scope["headers"]}
        ok = self.secret is not None and signature_valid(
            self.secret, body, headers, int(time.time())
        )
        status = (self.plan.pop(0) if self.plan else 200) if ok else 401
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.requests.append(Request(headers, body, status, ok))
        self.arrived.set()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})


@contextlib.asynccontextmanager
async def webhook_receiver(
    receiver: WebhookReceiver | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[str, str] | None = None,
    sni_names: list[str | None] | None = None,
) -> AsyncIterator[WebhookReceiver]:
    """``receiver`` served by uvicorn on a free port of 127.0.0.1 (plain HTTP: the broker
    allows it to loopback only with ``alert_webhook_loopback_http``).

    ``tls`` is (certificate file, key file) to serve HTTPS instead; the server name each
    TLS client asked for (SNI) is then appended to ``sni_names``.
    """
    receiver = receiver or WebhookReceiver()
    config = uvicorn.Config(
        receiver,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    config.timeout_graceful_shutdown = 1
    if tls is not None:
        config.load()
        if config.ssl is None:
            raise AssertionError("uvicorn made no TLS context")
        seen = sni_names if sni_names is not None else []
        config.ssl.sni_callback = lambda _sock, name, _ctx: seen.append(name)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.contextmanager
def black_hole() -> Any:
    """A port that accepts TCP connections into its backlog and never answers: a receiver
    that hangs (the worst kind: no refusal to fail fast on)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()

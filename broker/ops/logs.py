"""The broker's logs: ``MAMORI_LOG_LEVEL``, JSON lines (``MAMORI_LOG_FORMAT=json``) carrying
the request id of the request they belong to, and no secrets.

Request ids: each HTTP request or WebSocket gets one (a client's ``X-Request-ID`` if it is a
plain token, else a fresh random one), echoed in the answer's ``X-Request-ID`` and attached to
every record logged while the request is handled (a context variable follows its tasks).

Secrets: the broker never logs one on purpose; the ``Redactor`` filter is the second line
(tickets and tokens in URLs, Authorization and Cookie values, passwords, the secret key, TOTP
codes in key=value form), applied to every record's message and arguments before any
handler formats it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import sys
from typing import IO, Final

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
REDACTED: Final = "[redacted]"
_SECRETS: Final = (
    # key=value and "key": "value" forms of names that carry secrets.
    re.compile(
        r"(?i)\b(ticket|token|password|passwd|secret|secret_key|code|totp|otp|csrf|cookie|"
        r"authorization|api_key)(\"?\s*[=:]\s*\"?)(?:Bearer\s+)?([^\s\"&;,]+)"
    ),
    # A bearer token anywhere.
    re.compile(r"(?i)\b(Bearer)(\s+)([A-Za-z0-9._~+/=-]+)"),
)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return text


class Redactor(logging.Filter):
    """Redacts secrets from a record's message (arguments merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one writing ``fmt`` at ``level``; returned."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(RequestIdFilter())
    handler.addFilter(Redactor())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers keep their own level otherwise; they propagate to this handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler


class RequestIds:
    """ASGI middleware: a request id per HTTP request and WebSocket (see module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _CLIENT_ID.fullmatch(given) else secrets.token_hex(8)
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

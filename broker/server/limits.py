"""Request body limits, enforced before any route (or authentication) sees the request.

An attack run (issue 12, item 5) sent a 150 MB body before signing in: the broker read it
whole (RSS +486 MB) and answered no 413; a 5.9 MB JSON of many keys took 5.3 s to parse and
validate and stalled every other request. So, as pure ASGI (the body is never handed to
Starlette unchecked):

- a declared ``Content-Length`` over the limit is answered 413 without reading a byte;
- a body without one (chunked) is read only up to the limit, then 413;
- a body that is JSON (by its first byte: FastAPI parses JSON whatever the content type
  says) is scanned for nesting depth and item count before anything parses it: 400
  ``json_too_complex``. The scan uses C-speed regex and byte counts; the only Python loop
  walks brackets, whose number the item limit has already bounded.

The refusal closes the connection (uvicorn cannot reuse one with an unread body), so a
client cannot keep streaming into it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from broker.config import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A JSON string literal, escapes included (unrolled so a long string is one regex step).
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET: Final = re.compile(rb"[\[\]{}]")
_JSON_START: Final = frozenset(b"{[")


@dataclass(frozen=True)
class BodyLimits:
    """The three bounds (broker settings ``max_body_bytes``, ``max_json_depth``,
    ``max_json_items``)."""

    max_bytes: int
    max_depth: int
    max_items: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(settings.max_body_bytes, settings.max_json_depth, settings.max_json_items)


def json_shape_problem(body: bytes, limits: BodyLimits) -> str | None:
    """Why this JSON text is too deep or has too many items, or None when it is within
    bounds (or is not JSON at all: the parser will say so)."""
    start = body.lstrip()[:1]
    if not start or start[0] not in _JSON_START:
        return None
    structure = _STRING.sub(b'""', body)
    containers = structure.count(b"[") + structure.count(b"{")
    items = structure.count(b",") + containers
    if items > limits.max_items:
        return f"more than {limits.max_items} items"
    depth = 0
    for match in _BRACKET.finditer(structure):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > limits.max_depth:
            return f"nested deeper than {limits.max_depth}"
    return None


class BodyLimitMiddleware:
    """Wraps the whole application (outside every route and dependency)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, "invalid_request", "Content-Length is not a number")
            return
        if declared is not None and declared > self.limits.max_bytes:
            await _refuse(send, 413, "body_too_large", self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_bytes:
                await _refuse(send, 413, "body_too_large", self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_shape_problem(body, self.limits)
        if problem is not None:
            await _refuse(send, 400, "json_too_complex", f"the JSON body has {problem}")
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.limits.max_bytes} bytes"


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body over once, then the real one (for
    ``http.disconnect``)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

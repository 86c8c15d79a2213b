"""JSON logs: one object a line with level, logger and the request id of the request being
handled (a client's X-Request-ID if it is a plain token, else a fresh one, echoed back);
secrets are redacted from messages and arguments."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from broker.ops.logs import REDACTED, RequestIds, configure_logging, redact

pytestmark = pytest.mark.unit


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def app_that_logs() -> FastAPI:
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, str]:
        logging.getLogger("broker.test").warning("working on %s", "it")
        return {}

    app.add_middleware(RequestIds)
    return app


async def test_records_carry_the_request_id_echoed_to_the_client(captured: io.StringIO) -> None:
    """A client's X-Request-ID is used and echoed; without one a fresh id is made; each
    record logged while the request runs carries it; outside a request it is empty."""
    transport = httpx.ASGITransport(app=app_that_logs())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        given = await http.get("/work", headers={"X-Request-ID": "lb-abc-123"})
        fresh = await http.get("/work")
        forged = await http.get("/work", headers={"X-Request-ID": "bad id\r\nx: y"})
    logging.getLogger("broker.test").info("outside")
    records = [r for r in lines(captured) if r["logger"] == "broker.test"]
    assert given.headers["x-request-id"] == "lb-abc-123"
    assert len(fresh.headers["x-request-id"]) == 16
    assert forged.headers["x-request-id"] not in {"", "bad id\r\nx: y"}
    ids = [r["request_id"] for r in records]
    assert ids == [
        "lb-abc-123",
        fresh.headers["x-request-id"],
        forged.headers["x-request-id"],
        "",
    ]
    assert records[0]["level"] == "WARNING"
    assert records[0]["logger"] == "broker.test"
    assert records[0]["message"] == "working on it"


@pytest.mark.parametrize(
    "message",
    [
        "GET /ws/viewer?ticket=AbCdEf0123456789xyz HTTP/1.1",
        "login for x with password=Hunter2-is-secret",
        'settings {"secret_key": "c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3ODkwMTIz"}',
        "Authorization: Bearer abc.def.ghi-token",
        "cookie=__Host-mamori_session=abcdef123456",
        "totp code=123456 accepted",
        "enrollment token: tok_0123456789abcdef",
    ],
)
def test_secrets_are_redacted_from_messages_and_arguments(
    captured: io.StringIO, message: str
) -> None:
    """Given as the message or as an argument, the secret part never reaches the output."""
    secret_part = redact(message)
    assert REDACTED in secret_part
    log = logging.getLogger("broker.test")
    log.warning(message)
    log.warning("seen: %s", message)
    output = captured.getvalue()
    for record in lines(captured):
        assert REDACTED in str(record["message"])
    leaked = [w for w in message.replace("=", " ").replace('"', " ").split()
              if len(w) >= 6 and w not in secret_part]  # fmt: skip
    for word in leaked:
        assert word not in output, word


def test_text_format_is_available(captured: io.StringIO) -> None:
    """MAMORI_LOG_FORMAT=text: plain lines, still redacted."""
    stream = io.StringIO()
    configure_logging("DEBUG", "text", stream)
    logging.getLogger("broker.test").debug("ticket=abcdef0123456789")
    out = stream.getvalue()
    assert "DEBUG broker.test" in out
    assert "abcdef0123456789" not in out

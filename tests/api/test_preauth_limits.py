"""Pre-authentication resource limits (issue 12, item 5), against a real broker: bodies
bounded before they are read, JSON shape bounded before it is parsed, sign-in attempts
rate-limited before the password hash, and anonymous refusals audited in aggregate."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from broker.db.models import AuditEvent
from certs.authority import ServerFiles
from devkit.broker import RunningBroker, running_broker
from devkit.databases import sqlite_url
from devkit.identity import Person, anonymous_csrf, make_org, make_person, password_step

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
LIMITS = {
    "max_body_bytes": 64 * 1024,
    "max_json_items": 1000,
    "signin_address_burst": 5,
    "signin_address_per_minute": 0.1,  # one token per 10 min: none refills during a test
    "signin_account_burst": 4,
    "signin_account_per_minute": 0.1,
    "refusal_audit_window_s": 2,
}


@pytest.fixture
async def limited(server_certs: ServerFiles, tmp_path: Path) -> AsyncIterator[RunningBroker]:
    async with running_broker(server_certs, sqlite_url(tmp_path), **LIMITS) as running:
        yield running


async def _raw_post(
    broker: RunningBroker, headers: str, body_chunks: AsyncIterator[bytes]
) -> tuple[bytes, int]:
    """POST over a raw TLS connection, streaming ``body_chunks`` until the server answers;
    the status line, and how many body bytes were written before the answer came."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", broker.port, ssl=broker.client_ssl(), server_hostname="127.0.0.1"
    )
    sent = 0

    async def stream() -> None:
        nonlocal sent
        writer.write(headers.encode())
        async for chunk in body_chunks:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)

    sender = asyncio.create_task(stream())
    try:
        status = await asyncio.wait_for(reader.readline(), 60)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
            await sender
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()
    return status, sent


async def _zeros(total: int, chunk: int = 64 * 1024, chunked: bool = False) -> AsyncIterator[bytes]:
    block = b"0" * chunk
    framed = f"{chunk:x}\r\n".encode() + block + b"\r\n" if chunked else block
    for _ in range(total // chunk):
        yield framed


async def test_a_declared_huge_body_is_refused_unread(limited: RunningBroker) -> None:
    """A 150 MB Content-Length gets 413 at once: the answer comes after a few chunks of
    the body at most, not after 150 MB."""
    headers = (
        "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {150 * 1000 * 1000}\r\n\r\n"
    )
    status, sent = await _raw_post(limited, headers, _zeros(150 * 1000 * 1000))
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < 32 * MIB


async def test_a_streamed_body_is_cut_at_the_limit_without_holding_it(
    limited: RunningBroker,
) -> None:
    """A chunked body (no length) is read to the limit only, then 413; the process does
    not keep what was streamed (traced allocations stay far below the 64 MiB sent at
    most, where reading it whole would hold all of it)."""
    headers = (
        "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    tracemalloc.start()
    try:
        status, sent = await _raw_post(limited, headers, _zeros(64 * MIB, chunked=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB after {sent / MIB:.1f} MiB sent"


async def test_json_too_wide_or_too_deep_is_refused_before_parsing(
    limited: RunningBroker,
) -> None:
    """Many keys or deep nesting get 400 json_too_complex, a well-formed small body still
    reaches the route (401 for wrong credentials)."""
    wide = "{" + ",".join(f'"k{i}":0' for i in range(6000)) + "}"  # ~50 kB, under the size cap
    deep = "[" * 200 + "]" * 200
    async with limited.http() as http:
        csrf = await anonymous_csrf(http)
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        for body in (wide, deep):
            response = await http.post("/api/login", content=body, headers=headers)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "json_too_complex"
        normal = await password_step(http, "nobody", "Wrong#password1")
        assert normal.status_code == 401
        too_big = await http.post("/api/login", content="[" + "0," * 40_000 + "0]", headers=headers)
        assert too_big.status_code == 413
        assert too_big.json()["error"] == "body_too_large"
        assert too_big.headers["content-security-policy"]


async def _attempt(
    http: httpx.AsyncClient, csrf: str, username: str, password: str, source: str
) -> httpx.Response:
    """One sign-in attempt with a CSRF pair fetched once (concurrent fetches would race on
    the shared cookie)."""
    return await http.post(
        "/api/login",
        json={"username": username, "password": password},
        headers={"X-CSRF-Token": csrf, "X-Forwarded-For": source},
    )


async def _audit(broker: RunningBroker, source: str) -> list[AuditEvent]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.source_address == source).order_by(AuditEvent.id)
        )
        return list(rows)


async def test_a_burst_is_rate_limited_before_hashing_and_others_still_sign_in(
    limited: RunningBroker,
) -> None:
    """60 concurrent bogus sign-ins from one address: only the address's allowance (5) is
    evaluated, the rest are refused 429 rate_limited (never reaching the password check);
    a real person signing in from elsewhere meanwhile succeeds. The 55 refusals are all
    counted in the audit, in a few records instead of 55."""
    org = await make_org(limited, "さくら診療所")
    person = await make_person(limited, org, "doctor")
    attacker = "198.51.100.7"
    async with limited.http() as http, limited.http() as own:
        csrf = await anonymous_csrf(http)
        burst = [_attempt(http, csrf, f"ghost-{i}", "Wrong#password1", attacker) for i in range(60)]
        real = password_step(own, person.username, person.password, "203.0.113.20")
        *answers, mine = await asyncio.gather(*burst, real)
    assert mine.status_code == 200, mine.text
    codes = [a.json()["error"] for a in answers]
    limited_ones = [a for a in answers if a.json()["error"] == "rate_limited"]
    assert len(limited_ones) == 55, codes
    assert all(a.status_code == 429 and int(a.headers["retry-after"]) > 0 for a in limited_ones)
    assert set(codes) - {"rate_limited"} <= {"invalid_credentials", "locked"}

    # Every refusal is accounted for, in a handful of records: the first of each window
    # written at once, the rest as a count once the window passed (2 s here).
    limited.clock.advance(3)
    deadline = time.monotonic() + 20
    while True:
        rows = [r for r in await _audit(limited, attacker) if r.detail.startswith("rate_limited")]
        counted = sum(_represented(r.detail) for r in rows)
        if counted >= 55 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert counted == 55
    assert len(rows) <= 8, [r.detail for r in rows]


def _represented(detail: str) -> int:
    """1 for a refusal recorded on its own, N for a record counting N more."""
    match = re.search(r"; (\d+) more from this address", detail)
    return int(match.group(1)) if match else 1


async def test_one_account_is_limited_across_addresses(
    limited: RunningBroker,
) -> None:
    """Guesses on one name from many addresses are limited per account too (4 here), and
    the account's owner elsewhere is told to wait, not checked."""
    org = await make_org(limited, "さくら診療所")
    person: Person = await make_person(limited, org, "doctor")
    async with limited.http() as http:
        csrf = await anonymous_csrf(http)
        answers = await asyncio.gather(
            *[
                _attempt(http, csrf, person.username, f"Wrong#guess{i}", f"192.0.2.{i + 1}")
                for i in range(12)
            ]
        )
    codes = [a.json()["error"] for a in answers]
    assert codes.count("rate_limited") == 8, codes

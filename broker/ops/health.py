"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: the database answers and
is at the newest migration, the audit signing key is readable, Redis answers if configured).

A load balancer sends traffic only to a ready replica; an orchestrator restarts one whose
health fails. Neither needs authentication, so neither says more than which check failed:
no error text, no versions, no addresses.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from broker.audit import key as audit_key
from broker.config import Settings
from broker.db.engine import Database, head_revision

log = logging.getLogger(__name__)

router = APIRouter()

# Each check answers within this or counts as failed: a hung database must not hang probes.
CHECK_TIMEOUT_S: Final = 2.0


async def _database(db: Database) -> bool:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True


async def _migrations(db: Database) -> bool:
    return await db.current_revision() == head_revision()


async def _audit_key(settings: Settings) -> bool:
    await asyncio.to_thread(audit_key.load_private_key, settings.audit_key_path, create=False)
    return True


async def _redis(url: str) -> bool:
    import redis.asyncio as redis  # only where Redis is configured

    client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def readiness(settings: Settings, db: Database) -> dict[str, bool]:
    """Each check's result (True: passed)."""
    checks = {
        "database": _database(db),
        "migrations": _migrations(db),
        "audit_key": _audit_key(settings),
    }
    if settings.redis_url:
        checks["redis"] = _redis(settings.redis_url)
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            results[name] = await asyncio.wait_for(check, CHECK_TIMEOUT_S)
        except Exception as exc:  # any failure means not ready; the log says what
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = False
    return results


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """200 when every check passes, else 503; the body names each check's result."""
    state = request.app.state
    if getattr(state.relay, "draining", False):
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    results = await readiness(state.settings, state.db)
    ready = all(results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": results},
        status_code=200 if ready else 503,
    )

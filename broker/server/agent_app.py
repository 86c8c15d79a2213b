"""The agent port's ASGI application: ``/ws/agent`` and ``/agent/renew``, nothing else.

It runs on its own uvicorn server (``broker.server.servers``) beside the browser port, in the same
process, sharing the browser application's state (database, relay, clock, CAs): a viewer
and an agent meet in one relay. The TLS context requires client certificates
(``broker.agents.tls``), so only enrolled agents ever reach these routes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from broker.api import agent_renewal, handlers
from broker.ops.logs import RequestIds
from broker.server.limits import BodyLimitMiddleware, BodyLimits
from broker.signaling import agent_endpoint, agent_watch


def create_agent_app(app: FastAPI) -> FastAPI:
    """The agent port's application over ``app``'s state (``app`` migrates the database)."""

    @contextlib.asynccontextmanager
    async def lifespan(agent_app: FastAPI) -> AsyncIterator[None]:
        state = agent_app.state
        async with state.db.session() as s:
            await state.agent_authority.load(s)
            # Every good certificate in one query: the fleet reconnecting after a restart
            # is authenticated from memory (broker.agents.status).
            await state.agent_authority.status.reload(s, state.clock.now())
        watcher = asyncio.create_task(
            agent_watch.watch(
                state.relay,
                state.agent_authority,
                state.db,
                state.clock,
                state.settings.agent_recheck_s,
            )
        )
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await state.handshake_audit.drain()

    agent_app = FastAPI(
        title="Mamori agent port",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    agent_app.state = app.state
    handlers.install(agent_app)
    agent_app.add_middleware(
        BodyLimitMiddleware, limits=BodyLimits.from_settings(app.state.settings)
    )
    agent_app.add_middleware(RequestIds)
    agent_app.include_router(agent_endpoint.router)
    agent_app.include_router(agent_renewal.router)
    return agent_app

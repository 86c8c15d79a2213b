"""The broker's ASGI application: routes, security headers and the web client's files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis

from broker.access.remote_policy import RemotePolicy
from broker.agents.ca import AgentAuthority
from broker.agents.tls import HandshakeAudit, agent_tls_context, trust
from broker.alerts.service import AlertService
from broker.api import (
    account,
    admin,
    admin_devices,
    admin_hosts,
    agent_enrollment,
    alerts,
    audit_admin,
    auth,
    dashboard,
    devices,
    enrollment,
    factors,
    grants,
    handlers,
    hosts,
    source_networks,
    step_up,
    vendor_requests,
)
from broker.api import report as report_api
from broker.api import settings as settings_api
from broker.api.deps import Keys
from broker.audit import key as audit_key
from broker.audit import ledger as audit_ledger
from broker.audit import refusals as audit_refusals
from broker.audit.refusals import RefusalAudit
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database, PoolLimits
from broker.identity.throttle import Rate, SignInThrottle
from broker.ops import health
from broker.ops import metrics as ops_metrics
from broker.ops.logs import RequestIds
from broker.ops.metrics import Metrics, count_audit
from broker.replicas.bus import Bus
from broker.replicas.presence import Presence
from broker.replicas.presence import close as presence_close
from broker.replicas.routing import ReplicatedRelay
from broker.server.limits import BodyLimitMiddleware, BodyLimits
from broker.signaling import endpoints, resume_endpoint
from broker.signaling.adoption import Adoption
from broker.signaling.agent_gate import HandshakeGate
from broker.signaling.agent_registrations import AgentRegistrations
from broker.signaling.relay import Relay
from broker.signaling.session_audit import AuditedSessionEvents
from broker.turn.servers import IceServerSource
from broker.version import VERSION

# No inline script or style anywhere: the client is ES modules and stylesheets (files only), so
# the policy can be 'self' only. frame-ancestors 'none' stops clickjacking of the viewer.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The viewer needs none of these; clipboard access in particular must stay impossible.
PERMISSIONS_POLICY: Final = (
    "clipboard-read=(), clipboard-write=(), camera=(), microphone=(), geolocation=(), "
    "display-capture=(), usb=(), serial=(), hid=(), payment=()"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
    # Nothing the broker serves may linger in a shared or home PC's cache.
    "Cache-Control": "no-store",
}


class ClientFiles(StaticFiles):
    """The web client's files; only browser asset types are served (never ``__init__.py``).

    Its pages (``/`` for index.html, ``/viewer.html``, ``/console.html``) and everything they
    load carry SECURITY_HEADERS like every other answer (the middleware in create_app).
    """

    SUFFIXES: Final = frozenset({".html", ".js", ".css", ".svg", ".png", ".ico", ".woff2"})

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        full_path, found = super().lookup_path(path)
        if found is None or stat.S_ISDIR(found.st_mode):
            return full_path, found  # a directory is answered with its index.html, or 404
        if Path(full_path).suffix not in self.SUFFIXES:
            return "", None
        return full_path, found


def web_client_dir() -> Path:
    """Where the browser client's files are, installed or in a checkout."""
    return Path(str(resources.files("web_client")))


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """Build the broker application for these (already validated) settings.

    The database is opened and migrated to the newest schema when the server starts
    (lifespan), and closed when it stops.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.db.migrate()
        # Before anything is relayed: sessions this replica held when it stopped wait to be
        # re-adopted (broker/signaling/adoption.py), and get their end if they are not.
        await app.state.adoption.start()
        await app.state.alerts.start()
        presence: Presence | None = app.state.presence
        relay = app.state.relay
        if isinstance(relay, ReplicatedRelay):
            await relay.start(app.state.agent_authority)
        claims = (
            asyncio.create_task(presence.keep_fresh(app.state.relay.online_hosts))
            if presence is not None
            else None
        )
        refusals = asyncio.create_task(
            audit_refusals.keep_flushing(
                app.state.refusal_audit,
                app.state.db,
                app.state.clock,
                max(1.0, settings.refusal_audit_window_s / 2),
            )
        )
        checkpoints = asyncio.create_task(
            audit_ledger.keep_checkpointing(
                app.state.db.sessions,
                app.state.audit_signer,
                app.state.clock,
                settings.audit_checkpoint_interval_s,
            )
        )
        yield
        await app.state.adoption.stop()
        await app.state.alerts.stop()
        if claims is not None:
            claims.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await claims
        if isinstance(relay, ReplicatedRelay):
            await relay.stop()
        if presence is not None:
            await presence_close(presence.redis)
        refusals.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refusals
        checkpoints.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checkpoints
        # A clean stop seals every chain's tail under a signature.
        await audit_ledger.checkpoint_moved_chains(
            app.state.db.sessions, app.state.audit_signer, app.state.clock.now()
        )
        await app.state.db.dispose()

    # The schema is served (/openapi.json) for API users and the fuzz tests; the interactive
    # docs pages are not, since they would need inline script under the CSP.
    app = FastAPI(
        title="Mamori broker",
        version=VERSION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # The version agents are compared with (console, report, outdated alert); tests set
    # a newer one to see real agents flagged.
    app.state.version = VERSION
    app.state.clock = clock or Clock()
    app.state.keys = Keys.from_settings(settings)
    app.state.db = Database(
        settings.database_url,
        PoolLimits(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s),
    )
    # The checkpoint key is created on first start (0600) and refused if others can read it.
    app.state.audit_signer = audit_ledger.AuditSigner(
        audit_key.load_private_key(settings.audit_key_path, create=True),
        settings.audit_checkpoint_every,
    )
    audit_ledger.attach_signer(app.state.db.sessions, app.state.audit_signer)
    # After the signer: both ride on the sessions' info.
    app.state.metrics = Metrics(app.state, settings.replica_id)
    count_audit(app.state.db.sessions, app.state.metrics.counters)
    relay_terms = dict(
        policy=RemotePolicy(
            idle_s=settings.remote_idle_s,
            max_s=settings.remote_max_s,
            warn_s=settings.remote_warn_s,
            watermark=settings.watermark,
            privacy_screen=settings.block_local_input,
            end_on_violation=settings.end_on_violation,
            text_entry=settings.text_entry,
            ice_policy=settings.ice_policy,
            lan_candidates=settings.lan_candidates,
        ),
        events=AuditedSessionEvents(app.state.db, app.state.clock, settings.replica_id),
        clock=app.state.clock,
        ice=IceServerSource(
            settings.ice_urls,
            settings.turn_secret,
            settings.turn_credential_ttl_s,
            app.state.clock.now,
        ),
        allow_loopback_candidates=settings.ice_loopback,
    )
    # Replicas claim their agents in Redis (broker.replicas.presence) and route signaling
    # through it (broker.replicas.routing); one process keeps the in-memory relay.
    app.state.presence = None
    if settings.replicas:
        redis = Redis.from_url(settings.redis_url)
        app.state.presence = Presence(redis, settings.replica_id)
        app.state.relay = ReplicatedRelay(
            db=app.state.db,
            bus=Bus(redis, settings.replica_id),
            presence=app.state.presence,
            **relay_terms,
        )
    else:
        app.state.relay = Relay(**relay_terms)
    app.state.adoption = Adoption(
        app.state.db,
        app.state.clock,
        app.state.relay,
        settings.replica_id,
        settings.session_resume_s,
    )
    # The origin browsers use; with port 0 the server updates it once bound (server.py).
    app.state.origin = settings.origin()
    app.state.alerts = AlertService(
        settings, app.state.db, app.state.clock, app.state.relay, lambda: str(app.state.origin)
    )
    # Host agents: the organizations' CAs, and the agent port's TLS context trusting them
    # (served by a second server, broker/server/agent_app.py; its URL is updated once bound).
    app.state.agent_authority = AgentAuthority(
        settings.secret_key_bytes, timedelta(seconds=settings.agent_cert_lifetime_s)
    )
    app.state.handshake_audit = HandshakeAudit(app.state.db, app.state.clock)
    app.state.agent_gate = HandshakeGate(settings.agent_handshake_limit)
    app.state.agent_registrations = AgentRegistrations(
        app.state.db, app.state.clock, lambda: str(app.state.version)
    )
    app.state.agent_tls = agent_tls_context(settings, app.state.handshake_audit)
    app.state.agent_authority.on_new_ca(lambda ca: trust(app.state.agent_tls, ca))
    app.state.agent_url = settings.agent_url()
    handlers.install(app)
    # Pre-authentication limits (issue 12, item 5): sign-in attempts are rate-limited before
    # the password hash; anonymous refusals are audited in aggregate.
    app.state.signin_throttle = SignInThrottle(
        Rate(settings.signin_address_burst, settings.signin_address_per_minute),
        Rate(settings.signin_account_burst, settings.signin_account_per_minute),
    )
    app.state.refusal_audit = RefusalAudit(settings.refusal_audit_window_s)
    # Bodies are bounded before any route reads them; added before the headers middleware
    # so that one (outermost) puts the security headers on a 413 too.
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits.from_settings(settings))

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    for module in (
        auth,
        step_up,
        enrollment,
        factors,
        account,
        admin,
        audit_admin,
        dashboard,
        hosts,
        settings_api,
        source_networks,
        report_api,
        alerts,
        grants,
        vendor_requests,
        devices,
        admin_devices,
    ):
        app.include_router(module.router)
    app.include_router(admin_hosts.router)
    app.include_router(agent_enrollment.router)
    app.include_router(endpoints.router)
    app.include_router(resume_endpoint.router)
    app.include_router(health.router)
    app.include_router(ops_metrics.router)
    # Outermost: every record logged while a request is handled carries its id.
    app.add_middleware(RequestIds)
    app.mount("/", ClientFiles(directory=web_client_dir(), html=True), name="web_client")
    return app

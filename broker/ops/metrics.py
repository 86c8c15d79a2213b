"""Prometheus metrics on ``/metrics``, behind a bearer token (``MAMORI_METRICS_TOKEN``; unset,
the endpoint does not exist).

What a clinic's vendor watches, per replica (label ``replica``):

- now: agents online, live sessions, agent handshakes in progress, alert deliveries
  waiting (the outbox), seconds since the newest signed audit checkpoint;
- counted since start: session set-ups and refusals by reason, sign-in steps by outcome,
  lockouts, agents told to come back later, and every audit record by event and outcome.

The counts come from the audit trail itself: each audit record counts once its transaction
commits (a rolled-back one never does), so the metrics cannot say a thing happened that the
audit does not hold. Each broker app has its own registry (tests run several in one process).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from broker.db.engine import Database
from broker.db.models import AlertDelivery, AuditCheckpoint, AuditEvent

router = APIRouter()

_COUNTER_KEY: Final = "mamori.metrics"
_PENDING_KEY: Final = "mamori.metrics.pending"
# A label value must be a token from our own code; anything else is folded, so a detail
# can never blow up the number of series.
_TOKEN: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_REASON: Final = re.compile(r"(?:^|\s)reason=([a-z][a-z0-9_]{0,39})")
_SESSION_REFUSALS: Final = frozenset({"session_refused", "viewer_refused"})
_LOGIN_STEPS: Final = {"login_password": "password", "login_mfa": "second_factor"}


def _token(value: str) -> str:
    return value if _TOKEN.fullmatch(value) else "other"


def refusal_reason(detail: str) -> str:
    """The reason a refusal record gives: ``reason=X``, or its first word (a code)."""
    found = _REASON.search(detail)
    if found:
        return found.group(1)
    first = detail.split(" ", 1)[0] if detail else ""
    return _token(first) if first else "unspecified"


class AuditCounters:
    """Counters fed by committed audit records."""

    def __init__(self, registry: CollectorRegistry, replica: str) -> None:
        self.replica = replica
        labels = ["replica"]
        self.events = Counter(
            "mamori_audit_events", "Audit records committed", [*labels, "event", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.session_setups = Counter(
            "mamori_session_setups", "Remote sessions started", labels, registry=registry
        )
        self.session_refusals = Counter(
            "mamori_session_refusals", "Remote sessions refused", [*labels, "reason"],
            registry=registry,
        )  # fmt: skip
        self.logins = Counter(
            "mamori_logins", "Sign-in steps", [*labels, "step", "outcome"], registry=registry
        )
        self.lockouts = Counter("mamori_lockouts", "Accounts locked", labels, registry=registry)

    def count(self, name: str, outcome: str, detail: str) -> None:
        r = self.replica
        self.events.labels(r, _token(name), _token(outcome)).inc()
        if name == "session_started":
            self.session_setups.labels(r).inc()
        elif name in _SESSION_REFUSALS:
            self.session_refusals.labels(r, refusal_reason(detail)).inc()
        elif name in _LOGIN_STEPS:
            self.logins.labels(r, _LOGIN_STEPS[name], _token(outcome)).inc()
        elif name == "lockout":
            self.lockouts.labels(r).inc()


def count_audit(sessions: async_sessionmaker[AsyncSession], counters: AuditCounters) -> None:
    """Sessions made by ``sessions`` from now on feed ``counters`` when they commit."""
    info = dict(sessions.kw.get("info") or {})
    info[_COUNTER_KEY] = counters
    sessions.configure(info=info)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    if _COUNTER_KEY not in session.info:
        return
    pending = session.info.setdefault(_PENDING_KEY, [])
    for obj in session.new:
        if isinstance(obj, AuditEvent):
            pending.append((obj.event, obj.outcome, obj.detail or ""))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    counters = session.info.get(_COUNTER_KEY)
    for item in session.info.pop(_PENDING_KEY, []):
        if isinstance(counters, AuditCounters):
            counters.count(*item)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


class LiveState(Collector):
    """Gauges read at scrape time: the relay's and the gate's state in memory, and the
    database figures ``refresh`` fetched just before."""

    def __init__(self, state: Any, replica: str) -> None:
        self._state = state
        self._replica = replica
        self.outbox_depth = 0
        self.checkpoint_age_s: float | None = None

    async def refresh(self, db: Database, now: datetime) -> None:
        async with db.session() as s:
            self.outbox_depth = int(
                await s.scalar(
                    select(func.count())
                    .select_from(AlertDelivery)
                    .where(AlertDelivery.state == "pending")
                )
                or 0
            )
            newest = await s.scalar(select(func.max(AuditCheckpoint.signed_at)))
        self.checkpoint_age_s = (now - newest).total_seconds() if newest is not None else None

    def _gauge(self, name: str, text: str, value: float) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(name, text, labels=["replica"])
        gauge.add_metric([self._replica], value)
        return gauge

    def collect(self) -> Iterator[Metric]:
        relay = self._state.relay
        agents = relay.agents()
        yield self._gauge("mamori_agents_online", "Host agents linked now", len(agents))
        yield self._gauge(
            "mamori_live_sessions",
            "Remote sessions running now",
            sum(1 for a in agents if a.session is not None),
        )
        gate = self._state.agent_gate
        yield self._gauge(
            "mamori_agent_handshakes_in_progress", "Agent handshakes now", gate.in_progress
        )
        refused = CounterMetricFamily(
            "mamori_agent_handshakes_deferred",
            "Agents told 503 come back later (handshake limit)",
            labels=["replica"],
        )
        refused.add_metric([self._replica], gate.refused)
        yield refused
        # The agent port's parking (broker.server.agent_parking), once that port is built.
        admission = getattr(self._state, "agent_admission", None)
        if admission is not None:
            yield self._gauge(
                "mamori_agent_connections_parked",
                "Agent connections waiting before TLS for a handshake slot",
                len(admission.parking),
            )
            closed = CounterMetricFamily(
                "mamori_agent_connections_closed_before_tls",
                "Agent connections closed before TLS (parking full, or waited too long)",
                labels=["replica"],
            )
            closed.add_metric([self._replica], admission.refused)
            yield closed
        yield self._gauge(
            "mamori_alert_outbox_depth", "Alert deliveries waiting", self.outbox_depth
        )
        if self.checkpoint_age_s is not None:
            yield self._gauge(
                "mamori_audit_checkpoint_age_seconds",
                "Seconds since the newest signed audit checkpoint",
                self.checkpoint_age_s,
            )


class Metrics:
    """One broker app's registry: the audit counters and the live gauges."""

    def __init__(self, state: Any, replica: str) -> None:
        self.registry = CollectorRegistry()
        self.counters = AuditCounters(self.registry, replica)
        self.live = LiveState(state, replica)
        self.registry.register(self.live)


def _authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), token.encode())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus text format; 404 when no token is configured, 401 without it."""
    state = request.app.state
    token: str = state.settings.metrics_token
    if not token:
        return Response(status_code=404)
    if not _authorized(request, token):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    collected: Metrics = state.metrics
    await collected.live.refresh(state.db, state.clock.now())
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)

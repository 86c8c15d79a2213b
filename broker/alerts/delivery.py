"""The outbox worker: sends due alert deliveries, retrying with backoff, across restarts.

The outbox is the ``alert_deliveries`` table, so nothing is lost when the broker stops: a
delivery is pending until a receiver took it, failed after the last attempt, and retried
in between at growing intervals (exponential, with jitter so many brokers that lost the
same receiver do not all come back at once).

A delivery is *claimed* before it is sent: its attempt count moves up and its next attempt
is pushed past the send timeout, in one compare-and-set UPDATE. Two workers (two broker
replicas on PostgreSQL) therefore never send the same attempt; a worker that dies
mid-send leaves a delivery that comes due again when that lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access.zones import org_time_zone
from broker.alerts import settings as alert_settings
from broker.alerts import text as alert_text
from broker.alerts.channels import SmtpConfig, build_mail, post_webhook, send_mail
from broker.alerts.destinations import Resolver, WebhookPolicy, system_resolver
from broker.alerts.records import Channel, DeliveryState, plain_line
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.db.models import Alert, AlertDelivery, Organization
from broker.errors import DecryptionError, DeliveryFailed
from broker.secretbox import SecretBox

log = logging.getLogger(__name__)

# Deliveries in flight at once: a slow receiver must not hold up every other clinic's.
MAX_IN_FLIGHT: Final = 8
SYSTEM: Final = Actor(source_address="", name="system")


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float
    max_s: float
    max_attempts: int

    def delay_s(self, attempts: int) -> float:
        """Wait after the ``attempts``-th failure: base·2^(n-1), capped, then "equal
        jitter" (half fixed, half random) so retries spread but never come at once."""
        delay: float = min(self.max_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311  (jitter, not a secret)


@dataclass(frozen=True)
class _Job:
    """What one attempt needs, read before the network is touched."""

    delivery_id: int
    alert_id: int
    org_id: int
    channel: str
    target: str
    attempts: int
    kind: str
    severity: str
    subject: str
    facts: dict[str, Any]
    created_at: datetime
    org_name: str
    zone: str
    sealed_secret: bytes | None


class DeliveryWorker:
    """Drains the outbox; ``run`` until ``stop`` is set (the app's lifespan owns it)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        box: SecretBox,
        origin: Callable[[], str],
    ) -> None:
        self._db = db
        self._clock = clock
        self._box = box
        self._origin = origin
        self._smtp = SmtpConfig.from_settings(settings)
        self._retry = RetryPolicy(
            settings.alert_retry_base_s, settings.alert_retry_max_s, settings.alert_max_attempts
        )
        self._timeout_s = settings.alert_webhook_timeout_s
        self._poll_s = settings.alert_poll_s
        self._policy = WebhookPolicy(
            settings.alert_webhook_loopback_http, settings.alert_webhook_private
        )
        # Replaceable so tests can stand in a name server that answers differently each time.
        self.resolver: Resolver = system_resolver
        self._in_flight: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is not handed out again: longer than any attempt."""
        return timedelta(seconds=self._timeout_s * 3 + 30)

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(
            timeout=self._timeout_s, follow_redirects=False, trust_env=False
        ) as http:
            self._http = http
            try:
                while not stop.is_set():
                    try:
                        await self.send_due()
                    except Exception:
                        # A database hiccup must not end alerting for the broker's lifetime.
                        log.exception("alert delivery round failed; trying again")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._poll_s)
            finally:
                await self._finish_in_flight()
                self._http = None

    async def _finish_in_flight(self) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(self._in_flight, timeout=self._timeout_s + 1)
        for task in pending:
            task.cancel()  # its lease runs out and the next start sends it again
        await asyncio.gather(*pending, return_exceptions=True)

    async def send_due(self) -> int:
        """Claim due deliveries (up to the free slots) and start sending them."""
        free = MAX_IN_FLIGHT - len(self._in_flight)
        if free <= 0:
            return 0
        claimed = await self._claim(free)
        for delivery_id in claimed:
            task = asyncio.create_task(self._attempt(delivery_id), name=f"alert-{delivery_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    async def _claim(self, limit: int) -> list[int]:
        now = self._clock.now()
        claimed = []
        async with self._db.session() as s:
            due = (
                await s.execute(
                    select(AlertDelivery.id, AlertDelivery.attempts)
                    .where(
                        AlertDelivery.state == DeliveryState.PENDING.value,
                        AlertDelivery.next_attempt_at <= now,
                    )
                    .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
                    .limit(limit)
                )
            ).all()
            for delivery_id, attempts in due:
                result = await s.execute(
                    update(AlertDelivery)
                    .where(
                        AlertDelivery.id == delivery_id,
                        AlertDelivery.state == DeliveryState.PENDING.value,
                        AlertDelivery.attempts == attempts,
                    )
                    .values(attempts=attempts + 1, next_attempt_at=now + self.lease)
                )
                if getattr(result, "rowcount", 0):
                    claimed.append(delivery_id)
            await s.commit()
        return claimed

    async def _load(self, s: AsyncSession, delivery_id: int) -> _Job | None:
        delivery = await s.get(AlertDelivery, delivery_id)
        if delivery is None:
            return None
        alert = await s.get(Alert, delivery.alert_id)
        org = await s.get(Organization, delivery.org_id)
        if alert is None or org is None:
            return None
        stored = await alert_settings.stored(s, delivery.org_id)
        return _Job(
            delivery_id=delivery.id,
            alert_id=alert.id,
            org_id=org.id,
            channel=delivery.channel,
            target=delivery.target,
            attempts=delivery.attempts,
            kind=alert.kind,
            severity=alert.severity,
            subject=alert.subject,
            facts=dict(alert.facts),
            created_at=alert.created_at,
            org_name=org.name,
            zone=await org_time_zone(s, org.id),
            sealed_secret=stored.webhook_secret_sealed if stored else None,
        )

    async def _attempt(self, delivery_id: int) -> None:
        try:
            async with self._db.session() as s:
                job = await self._load(s, delivery_id)
            if job is None:
                return
            error: DeliveryFailed | None = None
            try:
                await self._send(job)
            except DeliveryFailed as exc:
                error = exc
            await self._settle(job, error)
        except Exception:
            # The lease brings it back; this only must not vanish silently.
            log.exception("alert delivery %s: unexpected failure", delivery_id)

    async def _send(self, job: _Job) -> None:
        console = f"{self._origin()}/#/admin/alerts"
        if job.channel == Channel.MAIL:
            try:
                message = build_mail(
                    self._smtp.sender if self._smtp else "",
                    job.target.split("\n"),
                    alert_text.mail_subject(
                        job.kind, job.severity, job.facts, job.zone, plain_line(job.org_name)
                    ),
                    alert_text.mail_body(
                        job.kind, job.facts, job.zone, job.org_name, job.created_at, console
                    ),
                    job.alert_id,
                    job.created_at,
                )
                message.as_bytes()  # what the relay would be sent: fails here, not there
            except (ValueError, UnicodeError) as exc:
                # A message that cannot be built never will be: given up and shown as failed
                # in the console at once, rather than retried (or lost) forever.
                log.error("alert %s: the mail cannot be built: %s", job.alert_id, exc)
                raise DeliveryFailed("the mail could not be built", permanent=True) from exc
            await send_mail(self._smtp, message)
            return
        if job.sealed_secret is None:
            raise DeliveryFailed("the webhook has no secret", permanent=True)
        try:
            secret = alert_settings.open_secret(self._box, job.org_id, job.sealed_secret)
        except DecryptionError as exc:
            raise DeliveryFailed("the webhook secret does not open", permanent=True) from exc
        if self._http is None:
            raise DeliveryFailed("the delivery worker is stopping")
        text = alert_text.render(job.kind, job.facts, job.zone, "ja")
        payload = {
            "alert_id": job.alert_id,
            "kind": job.kind,
            "severity": job.severity,
            "subject": job.subject,
            "organization": job.org_name,
            "occurred_at": job.created_at.isoformat(),
            "facts": job.facts,
            "title": text.title,
            "message": text.message,
            "action": text.action,
            "console_url": console,
        }
        await post_webhook(
            self._http,
            job.target,
            secret,
            payload,
            job.delivery_id,
            int(self._clock.now().timestamp()),
            self._policy,
            self.resolver,
        )

    async def _settle(self, job: _Job, error: DeliveryFailed | None) -> None:
        now = self._clock.now()
        values: dict[str, Any]
        gave_up = False
        if error is None:
            values = {
                "state": DeliveryState.DELIVERED.value,
                "delivered_at": now,
                "last_error": None,
            }
            log.info("alert %s delivered by %s", job.alert_id, job.channel)
        elif error.permanent or job.attempts >= self._retry.max_attempts:
            values = {"state": DeliveryState.FAILED.value, "last_error": error.message}
            gave_up = True
            log.warning(
                "alert %s: %s delivery given up after %d attempts: %s",
                job.alert_id,
                job.channel,
                job.attempts,
                error.message,
            )
        else:
            retry_at = now + timedelta(seconds=self._retry.delay_s(job.attempts))
            values = {"next_attempt_at": retry_at, "last_error": error.message}
            log.info(
                "alert %s: %s attempt %d failed: %s",
                job.alert_id,
                job.channel,
                job.attempts,
                error.message,
            )
        conditions = [
            AlertDelivery.id == job.delivery_id,
            AlertDelivery.state == DeliveryState.PENDING.value,
        ]
        if error is not None:
            # A failure only counts for the attempt that failed: if its lease ran out and
            # another attempt is under way, that one decides.
            conditions.append(AlertDelivery.attempts == job.attempts)
        async with self._db.session() as s:
            await s.execute(update(AlertDelivery).where(*conditions).values(**values))
            if gave_up:
                record(
                    s,
                    SYSTEM,
                    Event.ALERT_DELIVERY_FAILED,
                    Outcome.FAILURE,
                    now,
                    org_id=job.org_id,
                    detail=(
                        f"alert={job.alert_id} channel={job.channel} attempts={job.attempts} "
                        f"error={error.message if error else ''}"
                    ),
                )
            await s.commit()

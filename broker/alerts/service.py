"""Alerting as part of the running broker: the delivery worker and the periodic checks,
started and stopped by the app's lifespan.

Both run as background tasks of the broker's event loop, never inside a request: a slow or
unreachable receiver delays nothing but its own delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from broker.alerts import checks as alert_checks
from broker.alerts.checks import OnlineHosts, PeriodicChecks
from broker.alerts.delivery import DeliveryWorker
from broker.alerts.destinations import WebhookPolicy
from broker.alerts.settings import SECRET_PURPOSE
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.secretbox import SecretBox

log = logging.getLogger(__name__)


class AlertService:
    """The broker's alerting: ``box`` seals webhook secrets, ``checks`` takes new checks."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        online: OnlineHosts,
        origin: Callable[[], str],
    ) -> None:
        self.box = SecretBox(settings.secret_key_bytes, SECRET_PURPOSE)
        self.webhook_policy = WebhookPolicy(
            settings.alert_webhook_loopback_http, settings.alert_webhook_private
        )
        self.mail_available = bool(settings.smtp_host)
        self.worker = DeliveryWorker(db, clock, settings, self.box, origin)
        self.checks = PeriodicChecks(db, clock)
        self._clock = clock
        self._check_s = settings.alert_check_s
        self._started_at: datetime = clock.now()
        self.checks.add("agent_offline", alert_checks.agent_offline(online, self.started_at))
        self.checks.add("certificate_expiring", alert_checks.certificate_expiring())
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def started_at(self) -> datetime:
        return self._started_at

    async def start(self) -> None:
        self._started_at = self._clock.now()
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self.worker.run(self._stop), name="alert-delivery"),
            asyncio.create_task(self._run_checks(), name="alert-checks"),
        ]

    async def stop(self) -> None:
        """Let in-flight deliveries finish (bounded by their timeout), then return."""
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run_checks(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._check_s)
            if self._stop.is_set():
                return
            await self.checks.run_once()

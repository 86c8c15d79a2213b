"""An organization's alerts and alert settings, for its admins only.

Recent alerts in plain words (both languages, so the page switches without asking again),
acknowledging one, the settings (mail recipients, webhook URL and secret, usual hours, how
long an agent may be offline) and a test alert that goes out like a real one. Every change
of settings is audited. Another clinic's alert id answers 404 like one that does not exist.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access.zones import org_time_zone
from broker.alerts import destinations
from broker.alerts import records as alerts
from broker.alerts import rules as alert_rules
from broker.alerts import settings as alert_settings
from broker.alerts import text as alert_text
from broker.alerts.records import Fact, Kind
from broker.alerts.service import AlertService
from broker.api import deps
from broker.api.deps import AdminCaller, Db, ObjectId, Text
from broker.audit.record import Event, Outcome, record
from broker.db.models import Alert, AlertDelivery, AlertSettings, User
from broker.errors import BadRequest, Conflict, DeliveryFailed, NotFound, SettingRejected

router = APIRouter(prefix="/api/admin/alerts", tags=["alerts"])

HoursText = Annotated[Text, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Address = Annotated[Text, Field(min_length=3, max_length=254)]


class AlertWords(BaseModel):
    title: str
    message: str
    action: str


class DeliveryView(BaseModel):
    channel: str = Field(description="mail or webhook")
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    delivered_at: datetime | None
    last_error: str | None


class AlertView(BaseModel):
    id: int
    kind: str
    severity: str = Field(description="info, warning or critical")
    subject: str
    facts: dict[str, Fact]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    text: dict[str, AlertWords] = Field(description="the alert in plain words, ja and en")
    deliveries: list[DeliveryView]


class AlertList(BaseModel):
    unacknowledged: int
    alerts: list[AlertView] = Field(description="newest 100")


class SettingsView(BaseModel):
    mail_recipients: list[str]
    mail_available: bool = Field(description="the broker has a mail server to send with")
    webhook_url: str | None
    webhook_secret_set: bool
    usual_hours_start: str | None
    usual_hours_end: str | None
    agent_offline_minutes: int | None
    time_zone: str
    updated_at: datetime | None


class SettingsSaved(BaseModel):
    settings: SettingsView
    webhook_secret: str | None = Field(
        default=None, description="a newly made webhook secret; shown this once only"
    )


class SettingsChange(BaseModel):
    """The whole settings form; a missing webhook URL or hours turn those off."""

    model_config = ConfigDict(extra="forbid")
    mail_recipients: list[Address] = Field(default_factory=list, max_length=10)
    webhook_url: Text | None = Field(default=None, max_length=500)
    usual_hours_start: HoursText | None = None
    usual_hours_end: HoursText | None = None
    agent_offline_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)


class SecretIssued(BaseModel):
    webhook_secret: str = Field(description="shown this once only")


def _service(request: Request) -> AlertService:
    service: AlertService = request.app.state.alerts
    return service


async def alert_views(db: AsyncSession, org_id: int, rows: list[Alert]) -> list[AlertView]:
    """Alerts as the console shows them: in plain words (ja, en) with delivery states."""
    zone = await org_time_zone(db, org_id)
    deliveries = await alerts.deliveries_of(db, (a.id for a in rows))
    names: dict[int, str] = {}
    for user_id in {a.acknowledged_by for a in rows if a.acknowledged_by is not None}:
        user = await db.get(User, user_id)
        names[user_id] = user.display_name if user else "—"
    return [_view(a, zone, deliveries.get(a.id, []), names) for a in rows]


def _view(alert: Alert, zone: str, sent: list[AlertDelivery], names: dict[int, str]) -> AlertView:
    words = {}
    for lang in alert_text.LANGUAGES:
        text = alert_text.render(alert.kind, alert.facts, zone, lang)
        words[lang] = AlertWords(title=text.title, message=text.message, action=text.action)
    return AlertView(
        id=alert.id,
        kind=alert.kind,
        severity=alert.severity,
        subject=alert.subject,
        facts=alert.facts,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=names.get(alert.acknowledged_by) if alert.acknowledged_by else None,
        text=words,
        deliveries=[
            DeliveryView(
                channel=d.channel,
                state=d.state,
                attempts=d.attempts,
                delivered_at=d.delivered_at,
                last_error=d.last_error,
            )
            for d in sent
        ],
    )


async def _settings_view(request: Request, db: AsyncSession, org_id: int) -> SettingsView:
    config = await alert_settings.load(db, org_id)
    hours = config.usual_hours
    return SettingsView(
        mail_recipients=list(config.mail_recipients),
        mail_available=_service(request).mail_available,
        webhook_url=config.webhook_url,
        webhook_secret_set=config.has_webhook_secret,
        usual_hours_start=alert_settings.minutes_to_text(hours[0]) if hours else None,
        usual_hours_end=alert_settings.minutes_to_text(hours[1]) if hours else None,
        agent_offline_minutes=config.agent_offline_minutes,
        time_zone=await org_time_zone(db, org_id),
        updated_at=config.updated_at,
    )


@router.get("")
async def list_alerts(db: Db, caller: AdminCaller) -> AlertList:
    """The clinic's newest 100 alerts and how many nobody acknowledged yet."""
    rows = await alerts.recent(db, caller.org_id)
    return AlertList(
        unacknowledged=await alerts.unacknowledged(db, caller.org_id),
        alerts=await alert_views(db, caller.org_id, rows),
    )


class AcknowledgeAll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    up_to_id: int = Field(ge=1, le=2**62, description="the newest alert the admin was shown")


class Acknowledged(BaseModel):
    acknowledged: int = Field(description="how many alerts this marked as seen")


@router.post("/acknowledge-all")
async def acknowledge_all(
    body: AcknowledgeAll, request: Request, db: Db, caller: AdminCaller
) -> Acknowledged:
    """Mark every alert not yet acknowledged, up to the newest shown, as seen (one audit
    record with the count): a director back from a weekend need not click each."""
    now = deps.now_of(request)
    count = await alerts.acknowledge_all(db, caller.org_id, body.up_to_id, caller.user.id, now)
    if count:
        record(
            db,
            caller.actor,
            Event.ALERT_ACKNOWLEDGED,
            Outcome.SUCCESS,
            now,
            detail=f"all up_to={body.up_to_id} count={count}",
        )
    await db.commit()
    return Acknowledged(acknowledged=count)


@router.post("/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> AlertView:
    """Mark an alert as seen (by whom and when is kept, and audited)."""
    alert = await alerts.in_org(db, caller.org_id, alert_id)
    if alert is None:
        raise NotFound("no such alert", code="not_found")
    now = deps.now_of(request)
    if await alerts.acknowledge(db, alert, caller.user.id, now):
        record(
            db,
            caller.actor,
            Event.ALERT_ACKNOWLEDGED,
            Outcome.SUCCESS,
            now,
            detail=f"alert={alert.id} kind={alert.kind}",
        )
        await db.commit()
    return (await alert_views(db, caller.org_id, [alert]))[0]


@router.get("/settings")
async def get_settings(request: Request, db: Db, caller: AdminCaller) -> SettingsView:
    """Where the clinic's alerts go and the rules' settings (never the webhook secret)."""
    return await _settings_view(request, db, caller.org_id)


def _hours(body: SettingsChange) -> tuple[int | None, int | None]:
    if (body.usual_hours_start is None) != (body.usual_hours_end is None):
        raise BadRequest(
            "give both ends of the usual hours, or neither", code="usual_hours_invalid"
        )
    if body.usual_hours_start is None or body.usual_hours_end is None:
        return None, None
    start = alert_settings.text_to_minutes(body.usual_hours_start)
    end = alert_settings.text_to_minutes(body.usual_hours_end)
    if start == end:
        raise BadRequest("usual hours must not start and end together", code="usual_hours_invalid")
    return start, end


def _changes(before: alert_settings.AlertConfig, row: AlertSettings) -> list[str]:
    """What the audit record says changed; addresses counted, a URL by its host only
    (a webhook URL may carry a token in its path)."""
    after = alert_settings.effective(row)
    changed = []
    if before.mail_recipients != after.mail_recipients:
        changed.append(f"mail_recipients={len(after.mail_recipients)}")
    if before.webhook_url != after.webhook_url:
        host = urlsplit(after.webhook_url).hostname if after.webhook_url else "none"
        changed.append(f"webhook_url={host}")
    if before.usual_hours != after.usual_hours:
        hours = after.usual_hours
        text = "off"
        if hours:
            text = "-".join(alert_settings.minutes_to_text(m) for m in hours)
        changed.append(f"usual_hours={text}")
    if before.agent_offline_minutes != after.agent_offline_minutes:
        changed.append(f"agent_offline_minutes={after.agent_offline_minutes or 'off'}")
    return changed


SAVE_RESOLVE_TIMEOUT_S: Final = 5.0


async def _refuse_internal_name(url: str, service: AlertService) -> None:
    """Tell the admin now when the name resolves inside (delivery refuses it anyway, but a
    silent failure hours later helps nobody). A name that does not resolve yet is kept."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        # Bounded: a slow name server must not hold the admin's request (delivery checks again).
        async with asyncio.timeout(SAVE_RESOLVE_TIMEOUT_S):
            await destinations.resolve_checked(
                parts.hostname or "", port, service.webhook_policy, service.worker.resolver
            )
    except TimeoutError:
        return
    except DeliveryFailed as exc:
        if exc.permanent:
            raise SettingRejected(
                "webhook_url_private", "this address is not reachable from here"
            ) from exc


@router.put("/settings")
async def save_settings(
    body: SettingsChange, request: Request, db: Db, caller: AdminCaller
) -> SettingsSaved:
    """Replace the alert settings. A first webhook URL gets a new secret, shown once."""
    service = _service(request)
    try:
        recipients = alert_settings.parse_recipients(body.mail_recipients)
        url = body.webhook_url.strip() if body.webhook_url else ""
        url = alert_settings.check_webhook_url(url, service.webhook_policy) if url else ""
        if url:
            await _refuse_internal_name(url, service)
    except SettingRejected as exc:
        raise BadRequest(exc.message, code=exc.code) from exc
    start, end = _hours(body)
    now = deps.now_of(request)
    row = await alert_settings.stored(db, caller.org_id)
    before = alert_settings.effective(row)
    if row is None:
        row = AlertSettings(org_id=caller.org_id, updated_at=now)
        db.add(row)
    row.mail_recipients = "\n".join(recipients)
    row.webhook_url = url or None
    row.usual_start_minute, row.usual_end_minute = start, end
    row.agent_offline_minutes = body.agent_offline_minutes
    secret = None
    if not url:
        row.webhook_secret_sealed = None  # a later URL gets a fresh secret
    elif row.webhook_secret_sealed is None:
        secret = alert_settings.new_webhook_secret()
        row.webhook_secret_sealed = alert_settings.seal_secret(service.box, caller.org_id, secret)
    changed = _changes(before, row)
    if changed or secret:
        row.updated_at, row.updated_by = now, caller.user.id
        if secret:
            changed.append("webhook_secret=new")
        record(
            db,
            caller.actor,
            Event.ALERT_SETTINGS_CHANGED,
            Outcome.SUCCESS,
            now,
            detail=" ".join(changed),
        )
    await db.commit()
    return SettingsSaved(
        settings=await _settings_view(request, db, caller.org_id), webhook_secret=secret
    )


@router.post("/settings/webhook-secret", status_code=201)
async def rotate_webhook_secret(request: Request, db: Db, caller: AdminCaller) -> SecretIssued:
    """A new webhook secret, shown once; the old one stops signing at once."""
    row = await alert_settings.stored(db, caller.org_id)
    if row is None or not row.webhook_url:
        raise Conflict("set a webhook URL first", code="no_webhook")
    now = deps.now_of(request)
    secret = alert_settings.new_webhook_secret()
    row.webhook_secret_sealed = alert_settings.seal_secret(
        _service(request).box, caller.org_id, secret
    )
    row.updated_at, row.updated_by = now, caller.user.id
    record(db, caller.actor, Event.ALERT_WEBHOOK_SECRET_ROTATED, Outcome.SUCCESS, now)
    await db.commit()
    return SecretIssued(webhook_secret=secret)


@router.post("/test", status_code=201)
async def send_test_alert(request: Request, db: Db, caller: AdminCaller) -> AlertView:
    """A test alert, sent by mail and webhook like any other (see its delivery state)."""
    now = deps.now_of(request)
    alert = await alerts.raise_alert(
        db,
        caller.org_id,
        Kind.TEST,
        now,
        subject=caller.user.username,
        **alert_rules.who(caller.user),
    )
    record(db, caller.actor, Event.ALERT_TEST, Outcome.SUCCESS, now, detail=f"alert={alert.id}")
    await db.commit()
    return (await alert_views(db, caller.org_id, [alert]))[0]

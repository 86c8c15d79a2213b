"""The console's dashboard: who is connected to which clinic PC right now, and the button
that ends such a session (MHLW.md rows 11, 12: the clinic sees and stops remote work)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from broker.alerts import records as alerts
from broker.api import deps
from broker.api.alerts import AlertView, alert_views
from broker.api.deps import AdminCaller, Db
from broker.audit.record import Event, Outcome, record
from broker.db.models import Alert, VendorRequest, ViewingDevice
from broker.errors import NotFound
from broker.signaling.relay import Relay

router = APIRouter(prefix="/api/admin", tags=["admin"])

# The relay's session ids: 128 random bits, URL-safe base64 (protocol's session-id rule).
SessionId = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
END_REASON = "ended_by_admin"
RECENT_ALERTS = 5


class LiveSessionView(BaseModel):
    session_id: str
    host_id: str
    host_name: str
    user_id: int | None
    username: str
    display_name: str
    duration_s: int


class Waiting(BaseModel):
    """What waits for the admin, each counted (the console links to its page)."""

    vendor_requests: int
    devices: int
    alerts: int


class Dashboard(BaseModel):
    sessions: list[LiveSessionView]
    waiting: Waiting
    recent_alerts: list[AlertView] = Field(description="newest unacknowledged, at most 5")


@router.get("/dashboard")
async def dashboard(request: Request, db: Db, caller: AdminCaller) -> Dashboard:
    """What the clinic's admin sees first: live sessions, what waits for a decision, and
    the alerts nobody has looked at yet."""
    relay: Relay = request.app.state.relay
    now = deps.now_of(request)
    requests = await db.scalar(
        select(func.count())
        .select_from(VendorRequest)
        .where(
            VendorRequest.org_id == caller.org_id,
            VendorRequest.state == "pending",
            VendorRequest.expires_at > now,
        )
    )
    fresh = await db.scalars(
        select(Alert)
        .where(Alert.org_id == caller.org_id, Alert.acknowledged_at.is_(None))
        .order_by(Alert.id.desc())
        .limit(RECENT_ALERTS)
    )
    return Dashboard(
        waiting=Waiting(
            vendor_requests=int(requests or 0),
            devices=int(
                await db.scalar(
                    select(func.count())
                    .select_from(ViewingDevice)
                    .where(ViewingDevice.org_id == caller.org_id, ViewingDevice.state == "pending")
                )
                or 0
            ),
            alerts=await alerts.unacknowledged(db, caller.org_id),
        ),
        recent_alerts=await alert_views(db, caller.org_id, list(fresh)),
        sessions=[
            LiveSessionView(
                session_id=s.session_id,
                host_id=s.host_id,
                host_name=s.host_name,
                user_id=s.user_id,
                username=s.username,
                display_name=s.display_name,
                duration_s=s.duration_s,
            )
            for s in relay.live_sessions(caller.org_id)
        ],
    )


@router.post("/live-sessions/{live_id}/end")
async def end_session(
    live_id: SessionId, request: Request, db: Db, caller: AdminCaller
) -> Dashboard:
    """End a running session of the admin's organization: the agent closes the connection
    and the viewer is told an administrator ended it. Audited with the admin as actor."""
    relay: Relay = request.app.state.relay
    live = {s.session_id: s for s in relay.live_sessions(caller.org_id)}
    target = live.get(live_id)
    if target is None:
        raise NotFound("no such session is running", code="session_not_running")
    now = deps.now_of(request)
    # Audited before it happens: the record exists even if ending fails half-way.
    record(
        db,
        caller.actor,
        Event.SESSION_TERMINATED,
        Outcome.SUCCESS,
        now,
        target_user_id=target.user_id,
        detail=f"host={target.host_id} session={live_id}",
    )
    await db.commit()
    await relay.end_session(caller.org_id, live_id, END_REASON)
    return await dashboard(request, db, caller)

"""An admin's grants (who may open which host, view or control, in which weekly windows)
and the organization's time zone those windows are read in.

Everything is scoped to the admin's organization: another clinic's grant, user or host id
answers 404 exactly like a missing one. Every change is audited with what the grant says
now, and live sessions are held against the new grants at once (admission.recheck).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import grants
from broker.access import zones as time_zones
from broker.access.grants import Access, Window
from broker.api import deps
from broker.api.deps import AdminCaller, Caller, Db, ObjectId, Text
from broker.audit.record import Event, Outcome, record
from broker.db.models import Grant, Host, Organization, User
from broker.errors import BadRequest, NotFound, NotSignedIn
from broker.identity import accounts
from broker.signaling import admission

router = APIRouter(prefix="/api/admin", tags=["grants"])

RoleName = Literal["admin", "doctor", "staff", "vendor"]
HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
HostId = Annotated[Text, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class WindowIn(BaseModel):
    """A weekly window in the clinic's local time; an end at or before the start runs
    into the next day (22:00-02:00)."""

    model_config = ConfigDict(extra="forbid")
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        min_length=1, max_length=7, description="0 = Monday ... 6 = Sunday"
    )
    start: HHMM
    end: HHMM


class GrantIn(BaseModel):
    """Exactly one of ``user_id`` and ``role``; ``host_id`` None means every host; no
    windows means any time."""

    model_config = ConfigDict(extra="forbid")
    user_id: int | None = Field(default=None, ge=1, le=2**62)
    role: RoleName | None = None
    host_id: HostId | None = None
    access: Literal["view", "control"]
    windows: list[WindowIn] = Field(default_factory=list, max_length=grants.MAX_WINDOWS)

    @model_validator(mode="after")
    def _one_subject(self) -> GrantIn:
        if (self.user_id is None) == (self.role is None):
            raise ValueError("name either one user or one role")
        return self


class WindowView(BaseModel):
    days: list[int]
    start: str
    end: str


class GrantView(BaseModel):
    id: int
    user_id: int | None
    user_name: str | None = Field(description="the person's display name and account")
    role: str | None
    host_id: str | None = Field(description="None: every host of the clinic")
    host_name: str | None
    access: str
    windows: list[WindowView] = Field(description="empty: any time")
    created_at: datetime
    created_by: str | None = Field(description="the admin's account; None: a default grant")
    updated_at: datetime | None


class HostChoice(BaseModel):
    host_id: str
    name: str


class UserChoice(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool


class GrantsPage(BaseModel):
    time_zone: str
    grants: list[GrantView]
    hosts: list[HostChoice] = Field(description="every host that ever registered")
    users: list[UserChoice]


class TimeZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_zone: Text = Field(min_length=1, max_length=time_zones.MAX_ZONE_CHARS)


class TimeZoneView(BaseModel):
    time_zone: str
    zones: list[str] = Field(description="every zone the broker knows")


def _window(w: WindowIn) -> Window:
    def minute(hhmm: str) -> int:
        hours, minutes = hhmm.split(":")
        return int(hours) * 60 + int(minutes)

    start, end = minute(w.start), minute(w.end)
    if start == end:
        raise BadRequest("a window must not start and end at the same time", code="window_empty")
    return Window(frozenset(w.days), start, end)


def _window_view(w: Window) -> WindowView:
    return WindowView(
        days=sorted(w.days),
        start=grants.format_minute(w.start_minute),
        end=grants.format_minute(w.end_minute),
    )


async def _organization(db: AsyncSession, caller: Caller) -> Organization:
    org = await db.get(Organization, caller.org_id)
    if org is None:
        raise NotSignedIn("sign in first")
    return org


async def _hosts(db: AsyncSession, org_id: int) -> list[Host]:
    return list(await db.scalars(select(Host).where(Host.org_id == org_id).order_by(Host.name)))


async def _views(db: AsyncSession, org_id: int, rows: list[Grant]) -> list[GrantView]:
    windows = await grants.windows_of(db, [g.id for g in rows])
    users = {u.id: u for u in await accounts.users_of(db, org_id)}
    hosts = {h.id: h for h in await _hosts(db, org_id)}
    views = []
    for g in rows:
        subject = users.get(g.user_id) if g.user_id is not None else None
        host = hosts.get(g.host_ref) if g.host_ref is not None else None
        creator = users.get(g.created_by) if g.created_by is not None else None
        views.append(
            GrantView(
                id=g.id,
                user_id=g.user_id,
                user_name=f"{subject.display_name}（{subject.username}）" if subject else None,
                role=g.role,
                host_id=host.host_id if host else None,
                host_name=host.name if host else None,
                access=g.access,
                windows=[_window_view(w) for w in windows.get(g.id, [])],
                created_at=g.created_at,
                created_by=creator.username if creator else None,
                updated_at=g.updated_at,
            )
        )
    return views


class _Resolved:
    """A request's user and host, checked to be the admin's clinic's own."""

    def __init__(self, user: User | None, host: Host | None, windows: list[Window]) -> None:
        self.user, self.host, self.windows = user, host, windows

    def describe(self, role: str | None, access: str) -> str:
        subject = f"user={self.user.username}" if self.user else f"role={role}"
        host = self.host.host_id if self.host else "*"
        return grants.describe(subject, host, access, self.windows)


async def _resolve(db: AsyncSession, caller: Caller, body: GrantIn) -> _Resolved:
    user = None
    if body.user_id is not None:
        user = await accounts.user_in_org(db, caller.org_id, body.user_id)
        if user is None:
            raise NotFound("no such user", code="not_found")
    host = None
    if body.host_id is not None:
        host = await db.scalar(
            select(Host).where(Host.org_id == caller.org_id, Host.host_id == body.host_id)
        )
        if host is None:
            raise NotFound("no such host", code="not_found")
    return _Resolved(user, host, [_window(w) for w in body.windows])


async def _recheck(request: Request, org_id: int) -> None:
    state = request.app.state
    await admission.recheck(state.db, state.clock, state.relay, org_id)


async def _recorded(
    request: Request,
    db: AsyncSession,
    caller: Caller,
    grant: Grant,
    event: Event,
    resolved: _Resolved,
    body: GrantIn,
    now: datetime,
) -> GrantView:
    """Audit a created or changed grant, commit, end the live sessions it no longer allows
    and answer with its view: one order for both, so neither can commit unaudited."""
    record(
        db,
        caller.actor,
        event,
        Outcome.SUCCESS,
        now,
        target_user_id=grant.user_id,
        detail=f"grant={grant.id} " + resolved.describe(body.role, body.access),
    )
    await db.commit()
    await _recheck(request, caller.org_id)
    return (await _views(db, caller.org_id, [grant]))[0]


@router.get("/grants")
async def list_grants(db: Db, caller: AdminCaller) -> GrantsPage:
    """The clinic's grants in force, with the hosts and people a grant can name."""
    org = await _organization(db, caller)
    rows = await grants.active_grants(db, caller.org_id)
    return GrantsPage(
        time_zone=org.time_zone,
        grants=await _views(db, caller.org_id, rows),
        hosts=[HostChoice(host_id=h.host_id, name=h.name) for h in await _hosts(db, org.id)],
        users=[
            UserChoice(
                id=u.id,
                username=u.username,
                display_name=u.display_name,
                role=u.role,
                disabled=u.disabled_at is not None,
            )
            for u in await accounts.users_of(db, org.id)
        ],
    )


@router.post("/grants", status_code=201)
async def create_grant(body: GrantIn, request: Request, db: Db, caller: AdminCaller) -> GrantView:
    """Allow a person or a role to open one host or all, view-only or with control, in
    the given weekly windows (none: any time)."""
    resolved = await _resolve(db, caller, body)
    now = deps.now_of(request)
    grant = await grants.create(
        db,
        caller.org_id,
        user_id=resolved.user.id if resolved.user else None,
        role=body.role,
        host_ref=resolved.host.id if resolved.host else None,
        access=Access(body.access),
        windows=resolved.windows,
        created_by=caller.user.id,
        now=now,
    )
    return await _recorded(request, db, caller, grant, Event.GRANT_CREATED, resolved, body, now)


@router.put("/grants/{grant_id}")
async def change_grant(
    grant_id: ObjectId, body: GrantIn, request: Request, db: Db, caller: AdminCaller
) -> GrantView:
    """Replace what a grant says; live sessions it no longer allows end at once."""
    grant = await grants.find(db, caller.org_id, grant_id)
    if grant is None:
        raise NotFound("no such grant", code="not_found")
    resolved = await _resolve(db, caller, body)
    now = deps.now_of(request)
    await grants.change(
        db,
        grant,
        user_id=resolved.user.id if resolved.user else None,
        role=body.role,
        host_ref=resolved.host.id if resolved.host else None,
        access=Access(body.access),
        windows=resolved.windows,
        changed_by=caller.user.id,
        now=now,
    )
    return await _recorded(request, db, caller, grant, Event.GRANT_CHANGED, resolved, body, now)


@router.delete("/grants/{grant_id}", status_code=204)
async def delete_grant(
    grant_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> Response:
    """Take a grant away; live sessions that depended on it end at once."""
    grant = await grants.find(db, caller.org_id, grant_id)
    if grant is None:
        raise NotFound("no such grant", code="not_found")
    view = (await _views(db, caller.org_id, [grant]))[0]
    now = deps.now_of(request)
    grants.revoke(grant, caller.user.id, now)
    subject = f"user={view.user_name}" if grant.user_id is not None else f"role={grant.role}"
    record(
        db,
        caller.actor,
        Event.GRANT_DELETED,
        Outcome.SUCCESS,
        now,
        target_user_id=grant.user_id,
        detail=f"grant={grant.id} {subject} host={view.host_id or '*'} access={grant.access}",
    )
    await db.commit()
    await _recheck(request, caller.org_id)
    return Response(status_code=204)


@router.get("/time-zone")
async def get_time_zone(db: Db, caller: AdminCaller) -> TimeZoneView:
    """The clinic's time zone (grants' windows are read in it) and the zones to choose from."""
    org = await _organization(db, caller)
    return TimeZoneView(time_zone=org.time_zone, zones=list(time_zones.choices()))


@router.put("/time-zone")
async def set_time_zone(
    body: TimeZoneIn, request: Request, db: Db, caller: AdminCaller
) -> TimeZoneView:
    """Change the clinic's time zone (a zoneinfo name, e.g. Asia/Tokyo)."""
    if not time_zones.is_zone(body.time_zone):
        raise BadRequest("not a time zone this broker knows", code="time_zone_unknown")
    org = await _organization(db, caller)
    previous = org.time_zone
    if previous != body.time_zone:
        org.time_zone = body.time_zone
        record(
            db,
            caller.actor,
            Event.TIME_ZONE_CHANGED,
            Outcome.SUCCESS,
            deps.now_of(request),
            detail=f"{previous}->{body.time_zone}",
        )
        await db.commit()
        await _recheck(request, caller.org_id)
    return TimeZoneView(time_zone=org.time_zone, zones=list(time_zones.choices()))

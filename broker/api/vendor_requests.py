"""Vendor sessions approved one at a time: a vendor asks (from the host list, with a short
reason); an admin of the same clinic approves or denies in the console. An approval is good
for one session and lapses if unused (``vendor_approval_ttl_s``, default 30 min).

Every step is audited (requested, approved, denied; used is written when the session
starts, broker/signaling/admission.py). Another clinic's request id answers 404.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import decision as access
from broker.access import vendor_requests
from broker.access.grants import Refusal
from broker.access.vendor_requests import State
from broker.access.zones import zone_of
from broker.api import deps
from broker.api.deps import ActiveCaller, AdminCaller, Caller, Db, ObjectId, Text
from broker.audit.record import Event, Outcome, record
from broker.db.models import Host, Organization, VendorRequest
from broker.errors import Conflict, Forbidden, NotFound, NotSignedIn
from broker.identity import accounts

router = APIRouter(prefix="/api", tags=["vendor requests"])


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host_id: Text = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    reason: Text = Field(
        min_length=1,
        max_length=vendor_requests.MAX_REASON_CHARS,
        description="what the vendor will do, for the admin who decides",
    )


class RequestView(BaseModel):
    id: int
    user_id: int
    username: str
    display_name: str
    host_id: str
    host_name: str
    reason: str
    state: str = Field(description="pending, approved, denied, used or expired")
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    used_at: datetime | None


class RequestList(BaseModel):
    time_zone: str
    pending: int = Field(description="requests waiting for a decision")
    requests: list[RequestView] = Field(description="newest first, at most 50")


async def _views(
    db: AsyncSession, org_id: int, rows: list[VendorRequest], now: datetime
) -> list[RequestView]:
    users = {u.id: u for u in await accounts.users_of(db, org_id)}
    hosts = {h.id: h for h in await db.scalars(select(Host).where(Host.org_id == org_id))}
    views = []
    for r in rows:
        vendor, host = users.get(r.user_id), hosts.get(r.host_ref)
        decider = users.get(r.decided_by) if r.decided_by is not None else None
        views.append(
            RequestView(
                id=r.id,
                user_id=r.user_id,
                username=vendor.username if vendor else "",
                display_name=vendor.display_name if vendor else "",
                host_id=host.host_id if host else "",
                host_name=host.name if host else "",
                reason=r.reason,
                state=vendor_requests.state_of(r, now).value,
                created_at=r.created_at,
                expires_at=r.expires_at,
                decided_at=r.decided_at,
                decided_by=decider.username if decider else None,
                used_at=r.used_at,
            )
        )
    return views


async def _organization(db: AsyncSession, caller: Caller) -> Organization:
    org = await db.get(Organization, caller.org_id)
    if org is None:
        raise NotSignedIn("sign in first")
    return org


@router.post("/vendor-requests", status_code=201)
async def ask(body: RequestIn, request: Request, db: Db, caller: ActiveCaller) -> RequestView:
    """A vendor asks to open one host once (needs a grant for that host; one open request
    per host at a time)."""
    if caller.user.role != "vendor":
        raise Forbidden("only vendor accounts ask for approval", code="vendor_only")
    now = deps.now_of(request)
    host = await db.scalar(
        select(Host).where(Host.org_id == caller.org_id, Host.host_id == body.host_id)
    )
    if host is None:
        raise NotFound("no such host", code="not_found")
    org = await _organization(db, caller)
    decision = await access.grants_only(db, caller.user, org, body.host_id, now)
    if decision.refusal is Refusal.NO_GRANT:
        raise Forbidden("no grant allows you to open this host", code="no_grant")
    if await vendor_requests.open_request(db, caller.user.id, host.id, now) is not None:
        raise Conflict("a request for this host is already open", code="request_open")
    row = await vendor_requests.create(
        db, caller.org_id, caller.user.id, host.id, body.reason.strip() or "-", now
    )
    record(
        db,
        caller.actor,
        Event.VENDOR_REQUESTED,
        Outcome.SUCCESS,
        now,
        detail=f"request={row.id} host={host.host_id} reason={row.reason}",
    )
    await db.commit()
    return (await _views(db, caller.org_id, [row], now))[0]


@router.get("/admin/vendor-requests")
async def list_requests(request: Request, db: Db, caller: AdminCaller) -> RequestList:
    """The clinic's vendor requests, newest first, and how many wait for a decision."""
    now = deps.now_of(request)
    org = await _organization(db, caller)
    views = await _views(db, org.id, await vendor_requests.of_org(db, org.id), now)
    return RequestList(
        time_zone=zone_of(org),
        pending=sum(1 for v in views if v.state == State.PENDING.value),
        requests=views,
    )


async def _decide(
    request: Request, db: AsyncSession, caller: Caller, request_id: int, approve: bool
) -> RequestView:
    row = await vendor_requests.find(db, caller.org_id, request_id)
    if row is None:
        raise NotFound("no such request", code="not_found")
    now = deps.now_of(request)
    if vendor_requests.state_of(row, now) is not State.PENDING:
        raise Conflict("this request is no longer waiting", code="request_not_pending")
    ttl = deps.settings_of(request).vendor_approval_ttl_s
    vendor_requests.decide(row, approve, caller.user.id, now, ttl)
    view = (await _views(db, caller.org_id, [row], now))[0]
    record(
        db,
        caller.actor,
        Event.VENDOR_APPROVED if approve else Event.VENDOR_DENIED,
        Outcome.SUCCESS,
        now,
        target_user_id=row.user_id,
        detail=(
            f"request={row.id} host={view.host_id}"
            + (f" valid_until={row.expires_at.isoformat()}" if approve else "")
        ),
    )
    await db.commit()
    return view


@router.post("/admin/vendor-requests/{request_id}/approve")
async def approve(
    request_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> RequestView:
    """Approve one vendor session (good once, until it lapses)."""
    return await _decide(request, db, caller, request_id, approve=True)


@router.post("/admin/vendor-requests/{request_id}/deny")
async def deny(request_id: ObjectId, request: Request, db: Db, caller: AdminCaller) -> RequestView:
    """Deny a vendor's request."""
    return await _decide(request, db, caller, request_id, approve=False)

"""An organization's admins decide about viewing devices: approve, deny, revoke.

Scoped to the admin's own organization: another clinic's device id answers 404 exactly like
one that does not exist. Revoking ends the device's live viewer sessions at once.

Self-approval: an admin's own device needs another admin's approval when the clinic has
one (four eyes); an admin who is the clinic's only enabled admin approves their own device
themselves (a one-doctor clinic has nobody else), and the audit record says so
(``self_approval``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.api import deps
from broker.api.deps import AdminCaller, Caller, Db, ObjectId
from broker.audit.record import Event, Outcome, record
from broker.db.models import User, ViewingDevice
from broker.devices import register as devices
from broker.devices.register import Decision, DeviceState
from broker.errors import Conflict, DeviceRefused, Forbidden, NotFound

router = APIRouter(prefix="/api/admin/devices", tags=["admin"])

_EVENTS = {
    Decision.APPROVE: Event.DEVICE_APPROVED,
    Decision.DENY: Event.DEVICE_DENIED,
    Decision.REVOKE: Event.DEVICE_REVOKED,
}


class DeviceView(BaseModel):
    id: int
    owner_id: int
    owner_username: str
    owner_display_name: str
    owner_disabled: bool
    own: bool = Field(description="the calling admin's own device")
    label: str
    user_agent: str
    fingerprint: str
    state: str = Field(description="pending, approved, denied or revoked")
    created_at: datetime
    decided_by: str | None = Field(description="user name of the admin who decided last")
    decided_at: datetime | None
    last_used_at: datetime | None


class DeviceRegister(BaseModel):
    devices: list[DeviceView] = Field(description="waiting for approval first, newest first")
    pending: int
    self_approval: bool = Field(
        description="the caller may approve their own devices (the clinic's only admin)"
    )


async def _names(db: AsyncSession, org_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await db.execute(
        select(User.id, User.username).where(User.org_id == org_id, User.id.in_(ids))
    )
    return {user_id: name for user_id, name in rows}


def _view(device: ViewingDevice, owner: User, caller: Caller, names: dict[int, str]) -> DeviceView:
    return DeviceView(
        id=device.id,
        owner_id=owner.id,
        owner_username=owner.username,
        owner_display_name=owner.display_name,
        owner_disabled=owner.disabled_at is not None,
        own=owner.id == caller.user.id,
        label=device.label,
        user_agent=device.user_agent,
        fingerprint=device.fingerprint,
        state=device.state,
        created_at=device.created_at,
        decided_by=names.get(device.decided_by) if device.decided_by is not None else None,
        decided_at=device.decided_at,
        last_used_at=device.last_used_at,
    )


@router.get("")
async def list_devices(db: Db, caller: AdminCaller) -> DeviceRegister:
    """The clinic's register of viewing devices (MHLW.md row 4)."""
    rows = await devices.of_org(db, caller.org_id)
    names = await _names(
        db, caller.org_id, {d.decided_by for d, _ in rows if d.decided_by is not None}
    )
    others = await devices.other_enabled_admins(db, caller.org_id, caller.user.id)
    return DeviceRegister(
        devices=[_view(d, owner, caller, names) for d, owner in rows],
        pending=sum(1 for d, _ in rows if d.state == DeviceState.PENDING.value),
        self_approval=others == 0,
    )


async def _decide(
    request: Request, db: AsyncSession, caller: Caller, device_id: int, decision: Decision
) -> DeviceView:
    device = await devices.in_org(db, caller.org_id, device_id)
    if device is None:
        raise NotFound("no such device", code="not_found")
    owner = await db.get(User, device.user_id)
    if owner is None:  # a foreign key guarantees it; fail closed anyway
        raise NotFound("no such device", code="not_found")
    now = deps.now_of(request)
    event = _EVENTS[decision]
    detail = f"device={device.id} label={device.label} fingerprint={device.fingerprint[:16]}"
    own = device.user_id == caller.user.id
    if decision == Decision.APPROVE and own:
        if await devices.other_enabled_admins(db, caller.org_id, caller.user.id) > 0:
            record(
                db,
                caller.actor,
                event,
                Outcome.DENIED,
                now,
                target_user_id=owner.id,
                detail=f"{detail} self_approval_refused",
            )
            await db.commit()
            raise Forbidden("another admin must approve your own device", code="self_approval")
        detail += " self_approval"
    try:
        devices.decide(device, decision, caller.user.id, now)
    except DeviceRefused as exc:
        raise Conflict(exc.message, code=exc.code) from exc
    record(db, caller.actor, event, Outcome.SUCCESS, now, target_user_id=owner.id, detail=detail)
    await db.commit()
    if decision == Decision.REVOKE:
        await request.app.state.relay.end_sessions_of_devices({device.id})
    names = await _names(db, caller.org_id, {caller.user.id})
    return _view(device, owner, caller, names)


@router.post("/{device_id}/approve")
async def approve_device(
    device_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> DeviceView:
    """Approve a pending (or earlier denied) device: its owner can now open viewers."""
    return await _decide(request, db, caller, device_id, Decision.APPROVE)


@router.post("/{device_id}/deny")
async def deny_device(
    device_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> DeviceView:
    """Deny a pending device."""
    return await _decide(request, db, caller, device_id, Decision.DENY)


@router.post("/{device_id}/revoke")
async def revoke_device(
    device_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> DeviceView:
    """Revoke an approved device (final); its live viewer sessions end at once."""
    return await _decide(request, db, caller, device_id, Decision.REVOKE)

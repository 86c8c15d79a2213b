"""An organization's admin: people (invite, role, disable, reset factors) and the audit
trail (hosts and their certificates: ``admin_hosts``). Everything is scoped to the admin's
own organization: another clinic's user id answers 404 exactly like an id that does not
exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.api import deps
from broker.api.deps import AdminCaller, Caller, Db, ObjectId, Text
from broker.audit import record as audit
from broker.audit.record import Event, Outcome, record
from broker.db.models import User
from broker.errors import BadRequest, Conflict, NotFound
from broker.identity import accounts, mfa, sessions
from broker.identity.accounts import Purpose, Role

router = APIRouter(prefix="/api/admin", tags=["admin"])

RoleName = Literal["admin", "doctor", "staff", "vendor"]


class UserView(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: datetime
    totp: bool
    passkeys: int
    enrolled: bool = Field(description="has a password and a second factor")


class Invite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The stored form is lowercase (accounts.USERNAME_PATTERN); either case may be typed.
    username: Text = Field(
        min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$"
    )
    display_name: Text = Field(min_length=1, max_length=100)
    role: RoleName


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName | None = None
    disabled: bool | None = None


class LinkIssued(BaseModel):
    user: UserView
    enrollment_url: str = Field(description="one-time, valid for invite_ttl_s; shown once")
    expires_at: datetime


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    event: str
    outcome: str
    source_address: str
    target_user_id: int | None
    detail: str


async def _view(db: AsyncSession, user: User) -> UserView:
    held = await mfa.factors(db, user.id)
    return UserView(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        disabled=user.disabled_at is not None,
        created_at=user.created_at,
        totp=held.totp,
        passkeys=held.passkeys,
        enrolled=user.password_hash is not None and held.any_second_factor,
    )


async def _target(db: AsyncSession, caller: Caller, user_id: int) -> User:
    user = await accounts.user_in_org(db, caller.org_id, user_id)
    if user is None:
        raise NotFound("no such user", code="not_found")
    return user


def enrollment_url(request: Request, token: str) -> str:
    """The link a person opens; the token sits in the fragment, never sent to a server."""
    return f"{request.app.state.origin}/#/enroll/{token}"


async def _issue_link(
    request: Request, db: AsyncSession, caller: Caller, user: User, purpose: Purpose
) -> LinkIssued:
    now = deps.now_of(request)
    ttl = deps.settings_of(request).invite_ttl_s
    token = await accounts.issue_link(db, user, purpose, caller.user.id, now, ttl)
    return LinkIssued(
        user=await _view(db, user),
        enrollment_url=enrollment_url(request, token),
        expires_at=now + timedelta(seconds=ttl),
    )


@router.get("/users")
async def list_users(db: Db, caller: AdminCaller) -> list[UserView]:
    """Everyone in the admin's organization."""
    return [await _view(db, u) for u in await accounts.users_of(db, caller.org_id)]


@router.post("/users", status_code=201)
async def invite_user(body: Invite, request: Request, db: Db, caller: AdminCaller) -> LinkIssued:
    """Create an account and a one-time enrollment link (24 h) to hand to the person."""
    username = accounts.normalize_username(body.username)
    if not accounts.valid_username(username):
        raise BadRequest(
            "user names are 3-64 of a-z 0-9 . _ @ + - and start with a letter or digit",
            code="username_invalid",
        )
    # Only this clinic's names: another clinic's "tanaka" neither blocks nor shows here.
    if await accounts.username_taken(db, caller.org_id, username):
        raise Conflict("this user name is taken", code="username_taken")
    now = deps.now_of(request)
    user = await accounts.create_user(
        db, caller.org_id, username, body.display_name.strip() or username, Role(body.role), now
    )
    issued = await _issue_link(request, db, caller, user, Purpose.INVITE)
    record(
        db,
        caller.actor,
        Event.INVITE,
        Outcome.SUCCESS,
        now,
        target_user_id=user.id,
        detail=f"role={body.role}",
    )
    await db.commit()
    return issued


def _loses_an_admin(user: User, body: UserChange) -> bool:
    """Whether the change takes an enabled admin away."""
    if user.role != "admin" or user.disabled_at is not None:
        return False
    demotes = body.role is not None and body.role != "admin"
    return demotes or body.disabled is True


@router.patch("/users/{user_id}")
async def change_user(
    user_id: ObjectId, body: UserChange, request: Request, db: Db, caller: AdminCaller
) -> UserView:
    """Change a role or disable/enable; the last enabled admin stays an enabled admin."""
    user = await _target(db, caller, user_id)
    now = deps.now_of(request)
    if _loses_an_admin(user, body):
        # Two admins demoting each other at once must not both see the other still there
        # (issue 12): the clinic's row is locked, then the user and the count read again.
        await db.commit()
        await accounts.lock_org(db, caller.org_id)
        await db.refresh(user)
        if (
            _loses_an_admin(user, body)
            and await accounts.count_active_admins(db, caller.org_id) <= 1
        ):
            raise Conflict("the organization needs an enabled admin", code="last_admin")
    ended: list[int] = []
    if body.role is not None and body.role != user.role:
        detail = f"{user.role}->{body.role}"
        user.role = body.role
        record(
            db,
            caller.actor,
            Event.ROLE_CHANGE,
            Outcome.SUCCESS,
            now,
            target_user_id=user.id,
            detail=detail,
        )
        # Sessions carry what the role allowed when they began: end them.
        ended += await sessions.revoke_all(db, user.id, now)
    if body.disabled is not None and body.disabled != (user.disabled_at is not None):
        user.disabled_at = now if body.disabled else None
        event = Event.DISABLE if body.disabled else Event.ENABLE
        record(db, caller.actor, event, Outcome.SUCCESS, now, target_user_id=user.id)
        ended += await sessions.revoke_all(db, user.id, now)
    await db.commit()
    # A disabled person's viewer is told so (bye account_disabled), not "you signed out".
    reason = "account_disabled" if body.disabled is True else "signed_out"
    await request.app.state.relay.end_sessions_of(set(ended), reason)
    return await _view(db, user)


@router.post("/users/{user_id}/reset-factors")
async def reset_factors(
    user_id: ObjectId, request: Request, db: Db, caller: AdminCaller
) -> LinkIssued:
    """Remove every factor and session of a user and issue a new enrollment link."""
    user = await _target(db, caller, user_id)
    now = deps.now_of(request)
    await mfa.reset_all(db, user.id)
    ended = await sessions.revoke_all(db, user.id, now)
    issued = await _issue_link(request, db, caller, user, Purpose.RESET)
    record(db, caller.actor, Event.FACTORS_RESET, Outcome.SUCCESS, now, target_user_id=user.id)
    await db.commit()
    await request.app.state.relay.end_sessions_of(set(ended))
    return issued


@router.get("/audit")
async def audit_trail(db: Db, caller: AdminCaller) -> list[AuditView]:
    """The organization's newest 100 audit events."""
    return [
        AuditView(
            id=e.id,
            at=e.at,
            actor=e.actor,
            event=e.event,
            outcome=e.outcome,
            source_address=e.source_address,
            target_user_id=e.target_user_id,
            detail=e.detail,
        )
        for e in await audit.recent(db, caller.org_id)
    ]

"""The signed-in person's own account: sessions on other devices, password change."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from broker.alerts import rules as alert_rules
from broker.api import attempts, deps
from broker.api.deps import ActiveCaller, Db, ObjectId, Text
from broker.api.step_up import require_fresh
from broker.audit.record import Event, Outcome, record
from broker.errors import BadRequest, NotFound, NotSignedIn, PasswordRejected
from broker.identity import accounts, passwords, sessions

router = APIRouter(prefix="/api/account", tags=["account"])


class SessionView(BaseModel):
    id: int
    current: bool
    stage: str
    created_at: datetime
    last_seen_at: datetime
    source_address: str
    user_agent: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Text = Field(min_length=1, max_length=1024)
    new_password: Text = Field(min_length=1, max_length=1024)


@router.get("/sessions")
async def list_sessions(request: Request, db: Db, caller: ActiveCaller) -> list[SessionView]:
    """The caller's live sessions, this one marked ``current``."""
    live = await sessions.live_sessions(
        db, caller.user.id, deps.now_of(request), deps.policy_of(request)
    )
    return [
        SessionView(
            id=s.id,
            current=s.id == caller.record.id,
            stage=s.stage,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            source_address=s.source_address,
            user_agent=s.user_agent,
        )
        for s in live
    ]


@router.delete("/sessions/{session_id}")
async def end_session(
    session_id: ObjectId, request: Request, db: Db, caller: ActiveCaller
) -> dict[str, bool]:
    """End one of the caller's own sessions (another device, say)."""
    now = deps.now_of(request)
    live = await sessions.live_sessions(db, caller.user.id, now, deps.policy_of(request))
    target = next((s for s in live if s.id == session_id), None)
    if target is None:
        raise NotFound("no such session", code="not_found")
    await sessions.revoke(db, target, now)
    record(db, caller.actor, Event.SESSION_REVOKED, Outcome.SUCCESS, now, detail=str(session_id))
    await db.commit()
    await request.app.state.relay.end_sessions_of({session_id})
    return {"ok": True}


@router.post("/password")
async def change_password(
    body: PasswordChange, request: Request, db: Db, caller: ActiveCaller
) -> dict[str, bool]:
    """Change the password: a recent second factor (step-up), the current password, then
    the policy and the history. A wrong current password counts like a failed sign-in
    (the lockout's attempts, reserved before the check): no password oracle for whoever
    holds the cookie, and the lock ends the session."""
    require_fresh(request, caller)
    now = deps.now_of(request)
    await attempts.reserve(request, db, caller, Event.PASSWORD_CHANGED)
    if not await passwords.verify_password_async(caller.user.password_hash, body.current_password):
        locked = await attempts.failed(
            request, db, caller, Event.PASSWORD_CHANGED, "wrong_password", second_factor=False
        )
        await db.commit()
        if locked:
            await attempts.end_session(request, caller)
            raise NotSignedIn("too many wrong passwords: signed out", code="locked")
        raise BadRequest("the current password is wrong", code="wrong_password")
    await attempts.succeeded(db, caller)
    try:
        await accounts.set_password(db, caller.user, body.new_password, now)
    except PasswordRejected as exc:
        raise BadRequest(str(exc), code=f"password_{exc.reason}") from exc
    # Other devices signed in with the old password are signed out.
    ended = await sessions.revoke_all(db, caller.user.id, now, keep=caller.record.id)
    record(db, caller.actor, Event.PASSWORD_CHANGED, Outcome.SUCCESS, now)
    await alert_rules.factors_changed(db, caller.user, now, source=caller.source, change="password")
    await db.commit()
    await request.app.state.relay.end_sessions_of(set(ended))
    return {"ok": True}

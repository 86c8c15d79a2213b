"""Step-up: the second factor shown again, shortly before a factor or password change.

A session cookie alone (stolen from a shared PC, say) must not be enough to take over an
account (issue 12): enrolling or replacing TOTP, adding or removing a passkey, making new
recovery codes and changing the password all need a second factor shown within
``MAMORI_STEP_UP_S`` (default 5 minutes), at sign-in or here. Otherwise they answer 403
``step_up_required`` and the page asks for a code or passkey (web_client/app/step_up.js).
Wrong codes count against the account's lockout like at sign-in (``attempts.py``); the lock
ends the session. A person in first enrollment (stage ``enroll``, from a one-time link) has
no factor to show yet and is not asked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.api import attempts, deps
from broker.api.deps import ActiveCaller, Caller, Db, Text
from broker.audit.record import Event, Outcome, record
from broker.errors import BadRequest, Forbidden, NotSignedIn
from broker.identity import second_factor
from broker.identity.second_factor import Method
from broker.identity.sessions import Stage

router = APIRouter(prefix="/api/step-up", tags=["auth"])


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Text = Field(min_length=1, max_length=64)


class PasskeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: dict[str, Any]


class StepUpState(BaseModel):
    ok: bool
    valid_s: int = Field(description="how long the step-up holds")


def require_fresh(request: Request, caller: Caller) -> None:
    """Refuse unless this active session showed a second factor within the step-up time.

    Raises:
        Forbidden: ``step_up_required``.
    """
    if caller.record.stage != Stage.ACTIVE:
        return  # first enrollment through a one-time link: nothing to show yet
    shown = caller.record.second_factor_at
    limit = timedelta(seconds=deps.settings_of(request).step_up_s)
    if shown is None or deps.now_of(request) - shown > limit:
        raise Forbidden("show your second factor again first", code="step_up_required")


async def _failed(request: Request, db: AsyncSession, caller: Caller, how: str) -> NoReturn:
    locked = await attempts.failed(request, db, caller, Event.STEP_UP, how, second_factor=True)
    await db.commit()
    if locked:
        await attempts.end_session(request, caller)
        raise NotSignedIn("too many wrong codes: signed out", code="locked")
    raise BadRequest("the code or passkey was not accepted", code="mfa_failed")


async def _done(request: Request, db: AsyncSession, caller: Caller, how: str) -> StepUpState:
    now = deps.now_of(request)
    caller.record.second_factor_at = now
    await attempts.succeeded(db, caller)
    record(db, caller.actor, Event.STEP_UP, Outcome.SUCCESS, now, detail=how)
    await db.commit()
    return StepUpState(ok=True, valid_s=deps.settings_of(request).step_up_s)


@router.post("/totp")
async def step_up_totp(
    body: CodeBody, request: Request, db: Db, caller: ActiveCaller
) -> StepUpState:
    """A TOTP code (each code works once, here as at sign-in)."""
    return await _code(request, db, caller, Method.TOTP, body.code)


@router.post("/recovery")
async def step_up_recovery(
    body: CodeBody, request: Request, db: Db, caller: ActiveCaller
) -> StepUpState:
    """A recovery code (spent)."""
    return await _code(request, db, caller, Method.RECOVERY, body.code)


async def _code(
    request: Request, db: AsyncSession, caller: Caller, method: Method, code: str
) -> StepUpState:
    await attempts.reserve(request, db, caller, Event.STEP_UP)
    now = deps.now_of(request)
    if not await second_factor.check_code(
        db, deps.verifier_of(request), caller.user, method, code, now
    ):
        await _failed(request, db, caller, method.value)
    if method is Method.RECOVERY:
        record(db, caller.actor, Event.RECOVERY_CODE_USED, Outcome.SUCCESS, now)
    return await _done(request, db, caller, method.value)


@router.post("/passkey/options")
async def step_up_passkey_options(request: Request, db: Db, caller: ActiveCaller) -> dict[str, Any]:
    """WebAuthn request options for the user's passkeys (challenge kept on the session)."""
    options = await second_factor.passkey_options(
        db, deps.verifier_of(request), caller.record, caller.user, "step_up", deps.now_of(request)
    )
    await db.commit()
    return options


@router.post("/passkey")
async def step_up_passkey(
    body: PasskeyBody, request: Request, db: Db, caller: ActiveCaller
) -> StepUpState:
    """A passkey assertion."""
    await attempts.reserve(request, db, caller, Event.STEP_UP)
    if not await second_factor.check_passkey(
        db,
        deps.verifier_of(request),
        caller.record,
        caller.user,
        body.credential,
        "step_up",
        deps.now_of(request),
    ):
        await _failed(request, db, caller, "passkey")
    return await _done(request, db, caller, "passkey")

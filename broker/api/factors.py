"""Second factors: enroll TOTP or passkeys, list and remove them, renew recovery codes.

The same routes serve a new person (session stage ``enroll``) and a signed-in user adding a
factor (stage ``active``). The first factor a new person confirms completes enrollment: the
session becomes active under a new token and the answer carries ten recovery codes, shown
once. Removing a factor is for active sessions only and never removes the last one (MFA is
mandatory for every role: MHLW.md row 5). In an active session every change needs a recent
second factor (step-up, ``step_up.py``) and tells the clinic (``factors_changed`` alert).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.alerts import rules as alert_rules
from broker.api import deps
from broker.api.deps import ActiveCaller, Caller, Db, EnrollingCaller, ObjectId, Text
from broker.api.step_up import require_fresh
from broker.audit.record import Event, Outcome, record
from broker.db.models import Passkey
from broker.errors import BadRequest, Conflict, NotFound, PasskeyRejected
from broker.identity import mfa, passkeys, sessions, totp
from broker.identity.sessions import Stage

router = APIRouter(prefix="/api/factors", tags=["factors"])


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Text = Field(min_length=1, max_length=64)


class NewPasskeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: dict[str, Any]
    name: Text = Field(default="passkey", min_length=1, max_length=64)


class TotpStart(BaseModel):
    secret: str = Field(description="base32, for typing into an app by hand")
    otpauth_uri: str
    qr_svg: str = Field(description="data: URL of an SVG QR code of otpauth_uri")


class Enrolled(BaseModel):
    """A factor was added; ``recovery_codes`` only when this completed an enrollment."""

    state: str
    recovery_codes: list[str] = Field(default_factory=list)
    csrf_token: str | None = None


class PasskeyView(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class FactorsView(BaseModel):
    totp: bool
    passkeys: list[PasskeyView]
    recovery_codes_left: int


def _passkey_view(key: Passkey) -> PasskeyView:
    return PasskeyView(
        id=key.id, name=key.name, created_at=key.created_at, last_used_at=key.last_used_at
    )


async def _changed(request: Request, db: AsyncSession, caller: Caller, change: str) -> None:
    """Tell the clinic a factor of an active account changed (a first enrollment is not
    news: the admin's invitation started it)."""
    await alert_rules.factors_changed(
        db, caller.user, deps.now_of(request), source=caller.source, change=change
    )


async def _enrolled(
    request: Request, response: Response, db: AsyncSession, caller: Caller, kind: str
) -> Enrolled:
    now = deps.now_of(request)
    record(db, caller.actor, Event.MFA_ENROLLED, Outcome.SUCCESS, now, detail=kind)
    if caller.record.stage != Stage.ENROLL:
        await _changed(request, db, caller, "totp_enrolled" if kind == "totp" else "passkey_added")
        await db.commit()
        return Enrolled(state=caller.record.stage)
    codes = await mfa.issue_recovery_codes(db, caller.user.id, now)
    record(db, caller.actor, Event.RECOVERY_CODES_ISSUED, Outcome.SUCCESS, now)
    caller.record.second_factor = kind
    caller.record.second_factor_at = now
    token = sessions.promote(caller.record, Stage.ACTIVE, now, deps.policy_of(request))
    await db.commit()
    deps.set_session_cookies(request, response, token)
    return Enrolled(
        state=Stage.ACTIVE.value,
        recovery_codes=codes,
        csrf_token=sessions.csrf_token(deps.keys_of(request).csrf, token),
    )


@router.get("")
async def list_factors(db: Db, caller: ActiveCaller) -> FactorsView:
    """The caller's TOTP, passkeys and how many recovery codes are left."""
    held = await mfa.factors(db, caller.user.id)
    keys = await mfa.passkeys_of(db, caller.user.id)
    return FactorsView(
        totp=held.totp,
        passkeys=[_passkey_view(k) for k in keys],
        recovery_codes_left=held.recovery_codes_left,
    )


@router.post("/totp")
async def start_totp(request: Request, db: Db, caller: EnrollingCaller) -> TotpStart:
    """A new TOTP secret, as a QR code and as text; it counts once a code confirms it."""
    require_fresh(request, caller)
    box = deps.keys_of(request).totp_box
    secret = await mfa.start_totp(db, box, caller.user, deps.now_of(request))
    await db.commit()
    uri = totp.provisioning_uri(secret, caller.user.username, "Mamori")
    return TotpStart(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg_data_url(uri))


@router.post("/totp/confirm")
async def confirm_totp(
    body: CodeBody, request: Request, response: Response, db: Db, caller: EnrollingCaller
) -> Enrolled:
    """A code from the app proves it holds the new secret (and replaces an older one)."""
    require_fresh(request, caller)
    box = deps.keys_of(request).totp_box
    code = body.code.strip().replace(" ", "")
    if not await mfa.confirm_totp(db, box, caller.user, code, deps.now_of(request)):
        raise BadRequest("the code does not fit the new secret", code="totp_mismatch")
    return await _enrolled(request, response, db, caller, "totp")


@router.delete("/totp")
async def remove_totp(request: Request, db: Db, caller: ActiveCaller) -> FactorsView:
    """Remove TOTP, if a passkey remains."""
    require_fresh(request, caller)
    held = await mfa.factors(db, caller.user.id)
    if not held.totp:
        raise NotFound("no TOTP enrolled", code="not_found")
    if held.passkeys == 0:
        raise Conflict("the last second factor cannot be removed", code="last_factor")
    await mfa.remove_totp(db, caller.user.id)
    await _changed(request, db, caller, "totp_removed")
    record(
        db, caller.actor, Event.MFA_REMOVED, Outcome.SUCCESS, deps.now_of(request), detail="totp"
    )
    await db.commit()
    return await list_factors(db, caller)


@router.post("/passkeys/options")
async def passkey_options(request: Request, db: Db, caller: EnrollingCaller) -> dict[str, Any]:
    """WebAuthn creation options; the challenge is kept on the session."""
    require_fresh(request, caller)
    existing = [k.credential_id for k in await mfa.passkeys_of(db, caller.user.id)]
    options, challenge = passkeys.registration_options(
        deps.relying_party(request),
        caller.user.webauthn_handle,
        caller.user.username,
        caller.user.display_name,
        existing,
    )
    sessions.keep_challenge(caller.record, challenge, "register", deps.now_of(request))
    await db.commit()
    return options


@router.post("/passkeys")
async def add_passkey(
    body: NewPasskeyBody, request: Request, response: Response, db: Db, caller: EnrollingCaller
) -> Enrolled:
    """Verify the browser's new credential and keep its public key."""
    require_fresh(request, caller)
    now = deps.now_of(request)
    challenge = sessions.take_challenge(caller.record, "register", now)
    if challenge is None:
        await db.commit()
        raise BadRequest("no passkey registration is pending", code="passkey_rejected")
    try:
        new = passkeys.verify_registration(deps.relying_party(request), body.credential, challenge)
    except PasskeyRejected as exc:
        await db.commit()
        raise BadRequest("the passkey could not be verified", code="passkey_rejected") from exc
    if await mfa.passkey_by_credential(db, caller.user.id, new.credential_id) is not None:
        await db.commit()
        raise Conflict("this passkey is already registered", code="passkey_exists")
    await mfa.add_passkey(
        db, caller.user.id, new.credential_id, new.public_key, new.sign_count, body.name, now
    )
    return await _enrolled(request, response, db, caller, "passkey")


@router.delete("/passkeys/{passkey_id}")
async def remove_passkey(
    passkey_id: ObjectId, request: Request, db: Db, caller: ActiveCaller
) -> FactorsView:
    """Remove one of the caller's passkeys, if another second factor remains."""
    require_fresh(request, caller)
    keys = await mfa.passkeys_of(db, caller.user.id)
    key = next((k for k in keys if k.id == passkey_id), None)
    if key is None:
        raise NotFound("no such passkey", code="not_found")
    held = await mfa.factors(db, caller.user.id)
    if held.passkeys <= 1 and not held.totp:
        raise Conflict("the last second factor cannot be removed", code="last_factor")
    await db.delete(key)
    await _changed(request, db, caller, "passkey_removed")
    record(
        db, caller.actor, Event.MFA_REMOVED, Outcome.SUCCESS, deps.now_of(request), detail="passkey"
    )
    await db.commit()
    return await list_factors(db, caller)


@router.post("/recovery-codes")
async def renew_recovery_codes(request: Request, db: Db, caller: ActiveCaller) -> Enrolled:
    """Ten new recovery codes; the old ones stop working."""
    require_fresh(request, caller)
    now = deps.now_of(request)
    codes = await mfa.issue_recovery_codes(db, caller.user.id, now)
    record(db, caller.actor, Event.RECOVERY_CODES_ISSUED, Outcome.SUCCESS, now)
    await _changed(request, db, caller, "recovery_codes")
    await db.commit()
    return Enrolled(state=caller.record.stage, recovery_codes=codes)

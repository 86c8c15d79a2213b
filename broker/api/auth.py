"""Signing in and out: password, then a second factor (TOTP, passkey or a recovery code).

``POST /api/login`` answers the same for an unknown name and a wrong password, and spends
the same time (a dummy argon2 verify); failures count per account name and per source
address, and five within 15 minutes lock both for 15 minutes (MHLW.md row 7). Before any
of that, attempts are rate-limited per address and per name (``identity/throttle.py``), so
a flood costs no password hashing. A right
password starts a session in stage ``mfa`` under a new token; the second factor promotes it
to ``active`` under another new token.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NoReturn

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access.zones import zone_of
from broker.alerts import rules as alert_rules
from broker.api import attempts, deps
from broker.api.deps import AnyCaller, Caller, Db, MfaCaller, Text
from broker.api.source_networks import require_allowed_source
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.refusals import RefusalAudit
from broker.db.models import Organization
from broker.errors import Locked, NotSignedIn, RateLimited
from broker.identity import accounts, lockout, mfa, passwords, second_factor, sessions
from broker.identity.lockout import Scope
from broker.identity.second_factor import Method
from broker.identity.sessions import Stage
from broker.identity.throttle import SignInThrottle
from broker.secretbox import new_token

router = APIRouter(prefix="/api", tags=["auth"])

GENERIC_FAILURE = attempts.GENERIC_FAILURE


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Text = Field(min_length=1, max_length=200)
    password: Text = Field(min_length=1, max_length=1024)
    # The clinic's sign-in code: needed only when the name alone is not unique on the broker.
    clinic: Text | None = Field(default=None, max_length=32)


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Text = Field(min_length=1, max_length=64)


class PasskeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: dict[str, Any]


class SessionState(BaseModel):
    """Where the browser stands; the page picks its screen from ``state``."""

    state: str = Field(description="anonymous, mfa, enroll or active")
    csrf_token: str
    user: dict[str, Any] | None = None
    methods: list[str] = Field(default_factory=list, description="second factors on offer")


async def _methods(db: AsyncSession, user_id: int) -> list[str]:
    held = await mfa.factors(db, user_id)
    methods = []
    if held.passkeys:
        methods.append("passkey")
    if held.totp:
        methods.append("totp")
    if held.recovery_codes_left:
        methods.append("recovery")
    return methods


async def _user_view(db: AsyncSession, caller: Caller) -> dict[str, Any]:
    """The signed-in user as the page needs them: with the clinic's name, and its time zone,
    the one the page shows every time in (web_client/core/clinic_time.js)."""
    user = caller.user
    view: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
    }
    org = await db.get(Organization, user.org_id)
    view["time_zone"] = zone_of(org)
    if org is not None:
        view["organization"] = org.name
        view["clinic_code"] = org.code
    return view


@router.get("/session")
async def session_state(request: Request, response: Response, db: Db) -> SessionState:
    """The current sign-in state and the CSRF token the page must echo."""
    token = request.cookies.get(sessions.COOKIE)
    loaded = await sessions.load(db, token, deps.now_of(request), deps.policy_of(request))
    if loaded is None or token is None:
        csrf = request.cookies.get(sessions.CSRF_COOKIE, "")
        if len(csrf) < deps.MIN_CSRF_CHARS or len(csrf) > 200:
            csrf = new_token()
            response.set_cookie(
                sessions.CSRF_COOKIE, csrf, secure=True, samesite="strict", path="/"
            )
        return SessionState(state="anonymous", csrf_token=csrf)
    record_, user = loaded
    caller = Caller(record_, user, token, deps.source_address(request))
    return SessionState(
        state=record_.stage,
        csrf_token=sessions.csrf_token(deps.keys_of(request).csrf, token),
        user=await _user_view(db, caller),
        methods=await _methods(db, user.id) if record_.stage == Stage.MFA else [],
    )


@router.post("/login", dependencies=[Depends(deps.anonymous_csrf)])
async def login(body: LoginBody, request: Request, response: Response, db: Db) -> SessionState:
    """Check the password; on success a session waits for the second factor."""
    now = deps.now_of(request)
    source = deps.source_address(request)
    name = accounts.normalize_username(body.username)[:64]
    settings = deps.settings_of(request)
    policy = lockout.LockoutPolicy(
        settings.lockout_threshold, settings.lockout_window_s, settings.lockout_duration_s
    )
    await _take_attempt(request, db, source, name, now)
    found = accounts.valid_username(name)
    user = await accounts.find_user(db, name, body.clinic) if found else None
    # Per clinic for an account; an unknown (or, without a code, ambiguous) name locks alike.
    account = accounts.lockout_name(user) if user else f"unknown:{body.clinic or ''}:{name}"
    keys = [(Scope.ACCOUNT, account), (Scope.SOURCE, source)]
    actor = Actor(source, user.id if user else None, user.org_id if user else None, name)
    # One attempt is reserved on the name and the address before the password is looked
    # at, and committed: of any number of concurrent guesses at most the threshold are ever
    # evaluated (identity/lockout.py). A lock says nothing about whether the name exists
    # (unknown names lock alike), so a refused attempt skips the hash.
    until = await lockout.reserve(db, keys, now, policy)
    if until is not None:
        if user is not None or _refusals(request).admit(
            source, Event.LOGIN_PASSWORD, "locked", now
        ):
            record(db, actor, Event.LOGIN_PASSWORD, Outcome.DENIED, now, detail="locked")
        await db.commit()
        raise Locked(GENERIC_FAILURE, int((until - now).total_seconds()) + 1)
    await db.commit()
    # Verify even for an unknown name: the answer's timing must not tell which it was.
    ok = await passwords.verify_password_async(user.password_hash if user else None, body.password)
    if not ok or user is None or user.disabled_at is not None:
        # The counter rows before any audit write, in every path: one lock order, no
        # deadlock between concurrent sign-ins on PostgreSQL.
        locked = [s.value for s, k in keys if await lockout.fail(db, s, k, now, policy)]
        await db.commit()
        # An unknown name names nobody: counted per address, not one record each.
        if user is not None or _refusals(request).admit(
            source, Event.LOGIN_PASSWORD, "unknown account", now
        ):
            detail = "" if user is not None else "unknown account"
            record(db, actor, Event.LOGIN_PASSWORD, Outcome.FAILURE, now, detail=detail)
        for scope in locked:
            record(db, actor, Event.LOCKOUT, Outcome.SUCCESS, now, detail=scope)
        if locked and user is not None:
            await alert_rules.lockout(
                db,
                user,
                now,
                source=source,
                minutes=attempts.minutes(policy),
                scopes=",".join(locked),
            )
        await db.commit()
        raise NotSignedIn(GENERIC_FAILURE, code="invalid_credentials")
    for scope, key in keys:
        await lockout.release(db, scope, key)
    # After the password, not before: refusing earlier would tell anyone which names
    # belong to a clinic with lists. Wrong passwords from anywhere count as above.
    await require_allowed_source(db, actor, user, source, "sign_in", now)
    if passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = await passwords.hash_password_async(body.password)
    methods = await _methods(db, user.id)
    if not methods:
        # A password alone never opens anything; enrolling needs a link from an admin.
        record(db, actor, Event.LOGIN_PASSWORD, Outcome.DENIED, now, detail="no second factor")
        await db.commit()
        raise NotSignedIn("no second factor enrolled: ask an admin", code="enrollment_required")
    token, _ = await sessions.create(
        db,
        user,
        Stage.MFA,
        now,
        deps.policy_of(request),
        source,
        request.headers.get("user-agent", ""),
    )
    record(db, actor, Event.LOGIN_PASSWORD, Outcome.SUCCESS, now)
    await db.commit()
    deps.set_session_cookies(request, response, token)
    return SessionState(
        state=Stage.MFA.value,
        csrf_token=sessions.csrf_token(deps.keys_of(request).csrf, token),
        methods=methods,
    )


def _refusals(request: Request) -> RefusalAudit:
    audit: RefusalAudit = request.app.state.refusal_audit
    return audit


async def _take_attempt(
    request: Request, db: AsyncSession, source: str, name: str, now: datetime
) -> None:
    """Refuse (429) a sign-in attempt beyond the rate of its address or account name,
    before anything costly (the argon2 verify) runs; the refusal is audited in aggregate."""
    throttle: SignInThrottle = request.app.state.signin_throttle
    wait = throttle.take(source, name, now)
    if wait is None:
        return
    if _refusals(request).admit(source, Event.LOGIN_PASSWORD, "rate_limited", now):
        actor = Actor(source, name=name)
        record(db, actor, Event.LOGIN_PASSWORD, Outcome.DENIED, now, detail="rate_limited")
        await db.commit()
    raise RateLimited("too many sign-in attempts; wait a moment", math.ceil(wait))


async def _second_factor_failed(
    request: Request, db: AsyncSession, caller: Caller, how: str
) -> NoReturn:
    """Count a failed second factor against the account; lock ends the pending session."""
    locked = await attempts.failed(request, db, caller, Event.LOGIN_MFA, how, second_factor=True)
    await db.commit()
    if locked:
        await attempts.end_session(request, caller)
        # Say the lock and its length now: answering mfa_failed left the person to find
        # out only at the next password, after a bare "sign in" (issue 12).
        raise Locked(GENERIC_FAILURE, attempts.policy(request).duration_s)
    raise NotSignedIn("the code or passkey was not accepted", code="mfa_failed")


async def _locked_check(request: Request, db: AsyncSession, caller: Caller) -> None:
    """One second-factor attempt reserved before the code is checked (attempts.py)."""
    await attempts.reserve(request, db, caller, Event.LOGIN_MFA)


async def _complete(
    request: Request, response: Response, db: AsyncSession, caller: Caller, how: str
) -> SessionState:
    now = deps.now_of(request)
    # The second step may come from another address than the password did.
    await require_allowed_source(db, caller.actor, caller.user, caller.source, "sign_in", now)
    caller.record.second_factor = how
    caller.record.second_factor_at = now
    token = sessions.promote(caller.record, Stage.ACTIVE, now, deps.policy_of(request))
    await lockout.clear(db, Scope.ACCOUNT, accounts.lockout_name(caller.user))
    record(db, caller.actor, Event.LOGIN_MFA, Outcome.SUCCESS, now, detail=how)
    await alert_rules.signed_in(db, caller.user, now, source=caller.source)
    await db.commit()
    deps.set_session_cookies(request, response, token)
    return SessionState(
        state=Stage.ACTIVE.value,
        csrf_token=sessions.csrf_token(deps.keys_of(request).csrf, token),
        user=await _user_view(db, caller),
    )


@router.post("/login/totp")
async def login_totp(
    body: CodeBody, request: Request, response: Response, db: Db, caller: MfaCaller
) -> SessionState:
    """A TOTP code completes the sign-in; each code works once."""
    return await _code(request, response, db, caller, Method.TOTP, body.code)


@router.post("/login/recovery")
async def login_recovery(
    body: CodeBody, request: Request, response: Response, db: Db, caller: MfaCaller
) -> SessionState:
    """A recovery code completes the sign-in once; it is spent."""
    return await _code(request, response, db, caller, Method.RECOVERY, body.code)


async def _code(
    request: Request,
    response: Response,
    db: AsyncSession,
    caller: Caller,
    method: Method,
    code: str,
) -> SessionState:
    await _locked_check(request, db, caller)
    now = deps.now_of(request)
    if not await second_factor.check_code(
        db, deps.verifier_of(request), caller.user, method, code, now
    ):
        await _second_factor_failed(request, db, caller, method.value)
    if method is Method.RECOVERY:
        record(db, caller.actor, Event.RECOVERY_CODE_USED, Outcome.SUCCESS, now)
    return await _complete(request, response, db, caller, method.value)


@router.post("/login/passkey/options")
async def login_passkey_options(request: Request, db: Db, caller: MfaCaller) -> dict[str, Any]:
    """WebAuthn request options for the user's passkeys (challenge kept on the session)."""
    options = await second_factor.passkey_options(
        db, deps.verifier_of(request), caller.record, caller.user, "login", deps.now_of(request)
    )
    await db.commit()
    return options


@router.post("/login/passkey")
async def login_passkey(
    body: PasskeyBody, request: Request, response: Response, db: Db, caller: MfaCaller
) -> SessionState:
    """A passkey assertion completes the sign-in."""
    await _locked_check(request, db, caller)
    if not await second_factor.check_passkey(
        db,
        deps.verifier_of(request),
        caller.record,
        caller.user,
        body.credential,
        "login",
        deps.now_of(request),
    ):
        await _second_factor_failed(request, db, caller, "passkey")
    return await _complete(request, response, db, caller, "passkey")


@router.post("/logout")
async def logout(
    request: Request, response: Response, db: Db, caller: AnyCaller
) -> dict[str, bool]:
    """End this browser's session (and its viewer, if one is open)."""
    now = deps.now_of(request)
    await sessions.revoke(db, caller.record, now)
    record(db, caller.actor, Event.LOGOUT, Outcome.SUCCESS, now)
    await db.commit()
    await request.app.state.relay.end_sessions_of({caller.record.id})
    deps.clear_session_cookies(response)
    return {"ok": True}


@router.post("/logout-everywhere")
async def logout_everywhere(
    request: Request, response: Response, db: Db, caller: deps.ActiveCaller
) -> dict[str, int]:
    """End every session of this user, on every device, this one included."""
    now = deps.now_of(request)
    ended = await sessions.revoke_all(db, caller.user.id, now)
    record(db, caller.actor, Event.LOGOUT_EVERYWHERE, Outcome.SUCCESS, now, detail=str(len(ended)))
    await db.commit()
    await request.app.state.relay.end_sessions_of(set(ended))
    deps.clear_session_cookies(response)
    return {"ended": len(ended)}

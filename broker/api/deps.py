"""What every route needs: a database session, the time, who is calling, CSRF, cookies.

Routes declare the caller they accept by type: ``ActiveCaller`` (password and a second
factor; all ordinary routes), ``AdminCaller`` (active and role admin), ``MfaCaller`` (password
shown, second factor pending), ``EnrollingCaller`` (a new person enrolling, or an active user
adding a factor). With only a password, nothing but the MFA routes answer (MHLW.md row 5).

CSRF: every state-changing request carries ``X-CSRF-Token``. With a session it must equal
the session's token (an HMAC of the session cookie); before sign-in it must equal the
``__Host-mamori_csrf`` cookie (double submit). SameSite=Strict cookies and an Origin check stand
behind both.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final

from fastapi import Depends, Path, Request, Response
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncSession

from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.db.models import BrowserSession, User
from broker.errors import Forbidden, NotSignedIn
from broker.identity import sessions
from broker.identity.passkeys import RelyingParty
from broker.identity.second_factor import Verifier
from broker.identity.sessions import Stage
from broker.secretbox import SecretBox, derive_key

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# A page's periodic refresh (the host list) must not count as a person being active.
BACKGROUND_HEADER: Final = "X-Mamori-Background"
MIN_CSRF_CHARS: Final = 32

_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _storable(value: str) -> str:
    """Refuse control characters and lone surrogates: PostgreSQL cannot store NUL, UTF-8
    cannot encode a surrogate, and neither belongs in a name, code or password."""
    if _UNSTORABLE.search(value):
        raise ValueError("control characters and unpaired surrogates are not allowed")
    return value


# Every free-text field of every request body uses this instead of plain ``str``.
Text = Annotated[str, AfterValidator(_storable)]

# Row ids in paths: bounded so no database integer type can overflow on a fuzzed value.
ObjectId = Annotated[int, Path(ge=1, le=2**62)]


@dataclass(frozen=True)
class Keys:
    """Keys derived once from MAMORI_SECRET_KEY."""

    totp_box: SecretBox
    csrf: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        master = settings.secret_key_bytes
        return cls(SecretBox(master, "totp v1"), derive_key(master, "csrf v1"))


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def keys_of(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


def now_of(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock.now()


def policy_of(request: Request) -> sessions.SessionPolicy:
    settings = settings_of(request)
    return sessions.SessionPolicy(settings.idle_timeout_s, settings.session_lifetime_s)


def relying_party(request: Request) -> RelyingParty:
    settings = settings_of(request)
    return RelyingParty(settings.rp_id, "Mamori", request.app.state.origin)


def verifier_of(request: Request) -> Verifier:
    """What checking a second factor needs (identity/second_factor.py)."""
    return Verifier(keys_of(request).totp_box, relying_party(request))


def source_address(request: Request) -> str:
    """The client's address (uvicorn applies X-Forwarded-For from trusted proxies only)."""
    return request.client.host if request.client else "unknown"


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A unit of work; routes commit explicitly, anything uncommitted is rolled back."""
    database: Database = request.app.state.db
    async with database.session() as session:
        yield session


Db = Annotated[AsyncSession, Depends(db_session)]


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != request.app.state.origin:
        raise Forbidden("cross-origin request refused", code="csrf")
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        raise Forbidden("cross-site request refused", code="csrf")


def check_csrf(request: Request, session_token: str | None) -> None:
    """Refuse a state-changing request without the right CSRF token (403 ``csrf``)."""
    if request.method in SAFE_METHODS:
        return
    _check_origin(request)
    presented = request.headers.get(sessions.CSRF_HEADER, "")
    if session_token is not None:
        expected = sessions.csrf_token(keys_of(request).csrf, session_token)
    else:
        expected = request.cookies.get(sessions.CSRF_COOKIE, "")
    if (
        len(expected) < MIN_CSRF_CHARS
        or len(presented) > 200
        or not hmac.compare_digest(presented.encode(), expected.encode())
    ):
        raise Forbidden("missing or wrong CSRF token", code="csrf")


@dataclass
class Caller:
    """A signed-in browser: its session record, user and cookie token."""

    record: BrowserSession
    user: User
    token: str
    source: str

    @property
    def actor(self) -> Actor:
        return Actor(self.source, self.user.id, self.user.org_id, self.user.username)

    @property
    def org_id(self) -> int:
        return self.user.org_id


async def _caller(request: Request, db: AsyncSession, stages: frozenset[Stage]) -> Caller:
    token = request.cookies.get(sessions.COOKIE)
    loaded = await sessions.load(db, token, now_of(request), policy_of(request))
    if loaded is None or token is None:
        raise NotSignedIn("sign in first")
    record, user = loaded
    if Stage(record.stage) not in stages:
        code = {"mfa": "mfa_required", "enroll": "enrollment_required"}.get(record.stage)
        raise NotSignedIn("this needs a complete sign-in", code=code or "not_signed_in")
    check_csrf(request, token)
    if record.stage == Stage.ACTIVE and request.headers.get(BACKGROUND_HEADER) != "1":
        sessions.touch(record, now_of(request))
        await db.commit()
    return Caller(record, user, token, source_address(request))


async def active_caller(request: Request, db: Db) -> Caller:
    return await _caller(request, db, frozenset({Stage.ACTIVE}))


async def admin_caller(request: Request, db: Db) -> Caller:
    caller = await _caller(request, db, frozenset({Stage.ACTIVE}))
    if caller.user.role != "admin":
        # A signed-in person reaching for the admin's pages is worth a line in the trail.
        what = f"{request.method} {request.url.path}"
        record(db, caller.actor, Event.ACCESS_DENIED, Outcome.DENIED, now_of(request), detail=what)
        await db.commit()
        raise Forbidden("administrators only")
    return caller


async def mfa_caller(request: Request, db: Db) -> Caller:
    return await _caller(request, db, frozenset({Stage.MFA}))


async def enrolling_caller(request: Request, db: Db) -> Caller:
    return await _caller(request, db, frozenset({Stage.ENROLL, Stage.ACTIVE}))


async def any_caller(request: Request, db: Db) -> Caller:
    return await _caller(request, db, frozenset(Stage))


ActiveCaller = Annotated[Caller, Depends(active_caller)]
AdminCaller = Annotated[Caller, Depends(admin_caller)]
MfaCaller = Annotated[Caller, Depends(mfa_caller)]
EnrollingCaller = Annotated[Caller, Depends(enrolling_caller)]
AnyCaller = Annotated[Caller, Depends(any_caller)]


def anonymous_csrf(request: Request) -> None:
    """CSRF for routes used before sign-in (login, enrollment): double submit."""
    check_csrf(request, None)


def set_session_cookies(request: Request, response: Response, token: str) -> None:
    """The session cookie (HttpOnly) and its CSRF token (readable by the page's script).

    No Max-Age: the cookie dies with the browser, which suits shared and home PCs; the
    server's idle and absolute limits apply either way.
    """
    response.set_cookie(
        sessions.COOKIE, token, httponly=True, secure=True, samesite="strict", path="/"
    )
    response.set_cookie(
        sessions.CSRF_COOKIE,
        sessions.csrf_token(keys_of(request).csrf, token),
        httponly=False,
        secure=True,
        samesite="strict",
        path="/",
    )


def clear_session_cookies(response: Response) -> None:
    for name in (sessions.COOKIE, sessions.CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")

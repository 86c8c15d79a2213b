"""One-time enrollment links: greet the person, let them set a password.

The token travels in the URL fragment (``/#/enroll/TOKEN``), which browsers never send to a
server, and reaches the broker only in a POST body: it stays out of access logs. Setting the
password spends the link and starts a session in stage ``enroll``; the second factor comes
next (``broker/api/factors.py``), then ten recovery codes.
"""

from __future__ import annotations

from typing import NoReturn

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.api import deps
from broker.api.auth import SessionState
from broker.api.deps import Db, Text
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.refusals import RefusalAudit
from broker.db.models import Organization
from broker.errors import BadRequest, NotFound, PasswordRejected
from broker.identity import accounts, mfa, sessions
from broker.identity.sessions import Stage

router = APIRouter(
    prefix="/api/enrollment", tags=["enrollment"], dependencies=[Depends(deps.anonymous_csrf)]
)


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Text = Field(min_length=1, max_length=128)


class PasswordBody(LinkBody):
    password: Text = Field(min_length=1, max_length=1024)


class LinkInfo(BaseModel):
    username: str
    display_name: str
    organization: str
    purpose: str


async def _refused(request: Request, db: AsyncSession, step: str) -> NoReturn:
    """An unknown, spent or expired link: audited (someone may be guessing links), 404."""
    source = deps.source_address(request)
    now = deps.now_of(request)
    detail = f"{step} link_invalid"
    refusals: RefusalAudit = request.app.state.refusal_audit
    # Names nobody: counted per address and window rather than one record per guess.
    if refusals.admit(source, Event.ENROLLMENT_STARTED, detail, now):
        record(
            db, Actor(source, name=""), Event.ENROLLMENT_STARTED, Outcome.DENIED, now, detail=detail
        )
        await db.commit()
    raise NotFound("this link is unknown, used or expired", code="link_invalid")


@router.post("/inspect")
async def inspect_link(body: LinkBody, request: Request, db: Db) -> LinkInfo:
    """Who the link is for, without spending it; 404 if unknown, spent or expired."""
    found = await accounts.peek_link(db, body.token, deps.now_of(request))
    if found is None:
        await _refused(request, db, "inspect")
    link, user = found
    org = await db.get(Organization, user.org_id)
    return LinkInfo(
        username=user.username,
        display_name=user.display_name,
        organization=org.name if org else "",
        purpose=link.purpose,
    )


@router.post("")
async def redeem_link(
    body: PasswordBody, request: Request, response: Response, db: Db
) -> SessionState:
    """Set the password (policy and history apply) and start enrolling a second factor."""
    now = deps.now_of(request)
    found = await accounts.peek_link(db, body.token, now)
    if found is None:
        await _refused(request, db, "redeem")
    link, user = found
    actor = Actor(deps.source_address(request), user.id, user.org_id, user.username)
    try:
        await accounts.set_password(db, user, body.password, now)
    except PasswordRejected as exc:
        raise BadRequest(str(exc), code=f"password_{exc.reason}") from exc
    if not await accounts.spend_link(db, link, now):
        raise NotFound("this link is unknown, used or expired", code="link_invalid")
    # A reset link means every old factor is gone already; an invite starts from none.
    await mfa.reset_all(db, user.id)
    await sessions.revoke_all(db, user.id, now)
    token, _ = await sessions.create(
        db,
        user,
        Stage.ENROLL,
        now,
        deps.policy_of(request),
        actor.source_address,
        request.headers.get("user-agent", ""),
    )
    record(db, actor, Event.ENROLLMENT_STARTED, Outcome.SUCCESS, now, detail=link.purpose)
    record(db, actor, Event.PASSWORD_CHANGED, Outcome.SUCCESS, now, detail="enrollment")
    await db.commit()
    deps.set_session_cookies(request, response, token)
    return SessionState(
        state=Stage.ENROLL.value,
        csrf_token=sessions.csrf_token(deps.keys_of(request).csrf, token),
        user={
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
        },
    )

"""An admin's hosts: enrollment codes, the clinic PCs with their state, and revocation.

Scoped to the admin's organization like every admin route: another clinic's host id answers
404 exactly like one that does not exist.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from broker.agents import enrollment as agent_enrollment
from broker.agents import hosts as agents
from broker.agents.ca import AgentAuthority
from broker.agents.enrollment import HOST_ID_PATTERN
from broker.agents.versions import is_outdated
from broker.api import deps
from broker.api.deps import AdminCaller, Db, Text
from broker.audit.record import Event, Outcome, record
from broker.db.models import AgentCertificate
from broker.errors import NotFound
from broker.signaling.agent_watch import cut_revoked
from broker.signaling.relay import Relay

router = APIRouter(prefix="/api/admin", tags=["admin"])

HostId = Annotated[str, Path(min_length=1, max_length=63, pattern=HOST_ID_PATTERN)]
CertificateState = Literal["valid", "revoked", "expired", "none"]


class CertificateView(BaseModel):
    serial: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    renewed_at: datetime | None


class AdminHostView(BaseModel):
    host_id: str
    name: str
    online: bool = Field(description="its agent is connected now")
    busy: bool = Field(description="a viewer is on it now")
    first_seen_at: datetime
    last_seen_at: datetime
    certificate_state: CertificateState
    certificate: CertificateView | None = Field(description="the newest certificate")
    agent_version: str | None = Field(description="what its agent said when it last connected")
    agent_outdated: bool = Field(
        description="its agent is older than the broker, or its version is unknown"
    )
    broker_version: str = Field(description="the broker's version it is compared with")


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host_id: Text = Field(min_length=1, max_length=63, pattern=HOST_ID_PATTERN)
    name: Text = Field(min_length=1, max_length=100)


class CodeIssued(BaseModel):
    code: str = Field(description="one-time, valid 1 hour; shown once")
    host_id: str
    name: str
    expires_at: datetime
    command: str = Field(description="the command to run on the clinic PC")


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["unspecified", "decommissioned", "compromised"] = "unspecified"


def _state(cert: AgentCertificate | None, now: datetime) -> CertificateState:
    if cert is None:
        return "none"
    if cert.revoked_at is not None:
        return "revoked"
    return "expired" if now > cert.not_after else "valid"


def _newest(certs: list[AgentCertificate]) -> AgentCertificate | None:
    """The newest live certificate, else the newest of all (to show why none is live)."""
    live = [c for c in certs if c.revoked_at is None]
    candidates = live or certs
    return candidates[0] if candidates else None


@router.get("/hosts")
async def list_hosts(request: Request, db: Db, caller: AdminCaller) -> list[AdminHostView]:
    """The organization's enrolled hosts: online state, last seen, certificate, and the
    agent's version against the broker's."""
    authority: AgentAuthority = request.app.state.agent_authority
    relay: Relay = request.app.state.relay
    broker_version: str = request.app.state.version
    now = deps.now_of(request)
    by_host: dict[str, list[AgentCertificate]] = {}
    for issued in await authority.certificates(db, caller.org_id):
        by_host.setdefault(issued.host_id, []).append(issued)
    views = []
    for host in await agents.hosts_of(db, caller.org_id):
        link = relay.agent(caller.org_id, host.host_id)
        cert = _newest(by_host.get(host.host_id, []))
        views.append(
            AdminHostView(
                host_id=host.host_id,
                name=host.name,
                online=link is not None,
                busy=link is not None and link.session is not None,
                first_seen_at=host.first_seen_at,
                last_seen_at=now if link is not None else host.last_seen_at,
                certificate_state=_state(cert, now),
                certificate=None
                if cert is None
                else CertificateView(
                    serial=cert.serial,
                    not_before=cert.not_before,
                    not_after=cert.not_after,
                    issued_at=cert.issued_at,
                    renewed_at=cert.renewed_at,
                ),
                agent_version=host.agent_version,
                agent_outdated=is_outdated(host.agent_version, broker_version),
                broker_version=broker_version,
            )
        )
    return views


@router.post("/enrollment-codes", status_code=201)
async def create_enrollment_code(
    body: CodeRequest, request: Request, db: Db, caller: AdminCaller
) -> CodeIssued:
    """A one-time code (1 hour) for one clinic PC to enroll, with the command to run there."""
    now = deps.now_of(request)
    authority: AgentAuthority = request.app.state.agent_authority
    await authority.ensure_ca(db, caller.org_id, now)
    name = body.name.strip() or body.host_id
    issued = await agent_enrollment.create_code(
        db, caller.org_id, body.host_id, name, caller.user.id, now
    )
    record(
        db,
        caller.actor,
        Event.ENROLLMENT_CODE_CREATED,
        Outcome.SUCCESS,
        now,
        detail=f"host={body.host_id} expires_at={issued.record.expires_at.isoformat()}",
    )
    await db.commit()
    return CodeIssued(
        code=issued.code,
        host_id=body.host_id,
        name=name,
        expires_at=issued.record.expires_at,
        command=enroll_command(request.app.state.origin, issued.code, body.host_id, name),
    )


def enroll_command(origin: str, code: str, host_id: str, name: str) -> str:
    """The exact command an admin hands to whoever sits at the clinic PC."""
    return shlex.join(
        [
            "python",
            "-m",
            "host_agent",
            "enroll",
            "--broker",
            origin,
            "--code",
            code,
            "--host-id",
            host_id,
            "--name",
            name,
        ]
    )


@router.post("/hosts/{host_id}/revoke")
async def revoke_host(
    host_id: HostId, request: Request, db: Db, caller: AdminCaller, body: RevokeRequest
) -> AdminHostView:
    """Revoke every certificate of a host; its agent, if connected, is cut off at once."""
    host = await agents.find_host(db, caller.org_id, host_id)
    if host is None:
        raise NotFound("no such host", code="not_found")
    now = deps.now_of(request)
    authority: AgentAuthority = request.app.state.agent_authority
    serials = await authority.revoke_host(db, caller.org_id, host_id, body.reason, now)
    for serial in serials:
        record(
            db,
            caller.actor,
            Event.CERT_REVOKED,
            Outcome.SUCCESS,
            now,
            detail=f"host={host_id} serial={serial} reason={body.reason}",
        )
    await db.commit()
    await cut_revoked(request.app.state.relay, caller.org_id, host_id, serials)
    views = await list_hosts(request, db, caller)
    return next(v for v in views if v.host_id == host_id)

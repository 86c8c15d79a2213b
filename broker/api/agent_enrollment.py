"""``POST /api/agent-enrollment``: a clinic PC enrolls with a one-time code and a CSR.

Served on the browser port (the agent has no certificate yet); the code is the only
credential, so no cookie, session or CSRF token is involved. The code decides the
organization and the host id; the CSR, made on the host, must name exactly that host id and
carry a valid signature over its key and subject. The answer is the client certificate,
the organization's CA certificate and the agent port's URL. Every refusal is audited with
its reason; a code is spent by success and by a tampered CSR alike.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from broker.agents import enrollment as agent_enrollment
from broker.agents import hosts as agents
from broker.agents.ca import AgentAuthority
from broker.agents.enrollment import CSR_PEM_PATTERN, HOST_ID_PATTERN, MAX_CODE_CHARS, MAX_CSR_CHARS
from broker.alerts import rules as alert_rules
from broker.api import deps
from broker.api.deps import Db, Text
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.models import Organization
from broker.errors import BadRequest, EnrollmentRefused, Forbidden
from broker.signaling.agent_watch import cut_revoked
from certs.errors import CsrRefused

router = APIRouter(prefix="/api", tags=["agents"])

# Refusals about the code itself: 403. A request that breaks a rule: 400.
_FORBIDDEN = frozenset({"code_unknown", "code_other_organization", "code_used", "code_expired"})


class EnrollmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Text = Field(min_length=1, max_length=MAX_CODE_CHARS)
    host_id: Text = Field(min_length=1, max_length=63, pattern=HOST_ID_PATTERN)
    csr: str = Field(max_length=MAX_CSR_CHARS, pattern=CSR_PEM_PATTERN, description="PEM CSR")


class Enrolled(BaseModel):
    host_id: str
    name: str
    organization: str
    certificate: str = Field(description="PEM client certificate for the agent port")
    ca_certificate: str = Field(description="PEM certificate of the organization's agent CA")
    not_after: datetime
    agent_url: str = Field(description="wss:// URL of the agent port")


def _refused(exc: EnrollmentRefused) -> Exception:
    code = f"enrollment_{exc.reason}"
    if exc.reason in _FORBIDDEN:
        return Forbidden(exc.message, code=code)
    return BadRequest(exc.message, code=code)


@router.post("/agent-enrollment", status_code=201)
async def enroll_agent(body: EnrollmentRequest, request: Request, db: Db) -> Enrolled:
    """Issue a client certificate to a host presenting a valid enrollment code."""
    now = deps.now_of(request)
    authority: AgentAuthority = request.app.state.agent_authority
    actor = Actor(deps.source_address(request), name=f"agent:{body.host_id}")
    code = None
    try:
        code = await agent_enrollment.redeem(db, body.code, body.host_id, now)
        csr = agent_enrollment.load_csr(body.csr)
        if csr is None:
            raise EnrollmentRefused("csr_refused", "not a PEM certificate signing request")
        # The code is taken before a certificate is made: two requests racing with one
        # code get one certificate (the read above ends first, so SQLite waits for the
        # write lock rather than failing the upgrade).
        await db.commit()
        if not await agent_enrollment.claim(db, code, now):
            raise EnrollmentRefused(
                "code_used", "this enrollment code was used already", code.org_id
            )
        try:
            issued = await authority.issue(db, code.org_id, code.host_id, csr, now)
        except CsrRefused as exc:
            # A CSR our own agent would never make: its key or subject was changed.
            agent_enrollment.spend(code, now)
            raise EnrollmentRefused("csr_refused", str(exc), code.org_id) from exc
    except EnrollmentRefused as exc:
        org_id = exc.org_id if exc.org_id is not None else (code.org_id if code else None)
        record(
            db,
            actor,
            Event.ENROLLMENT_REFUSED,
            Outcome.DENIED,
            now,
            org_id=org_id,
            detail=f"reason={exc.reason} host={body.host_id}",
        )
        await db.commit()
        raise _refused(exc) from exc
    agent_enrollment.spend(code, now)
    # A host enrolled again (a reinstalled PC) keeps no older certificate.
    superseded = await authority.revoke_host(
        db, code.org_id, code.host_id, "superseded", now, keep=issued.record.serial
    )
    for serial in superseded:
        record(
            db,
            actor,
            Event.CERT_REVOKED,
            Outcome.SUCCESS,
            now,
            org_id=code.org_id,
            detail=f"host={code.host_id} serial={serial} reason=superseded",
        )
    await agents.register_host(db, code.org_id, code.host_id, code.name, now)
    organization = await db.get(Organization, code.org_id)
    record(
        db,
        actor,
        Event.HOST_ENROLLED,
        Outcome.SUCCESS,
        now,
        org_id=code.org_id,
        detail=f"host={code.host_id}",
    )
    await alert_rules.agent_enrolled(db, code.org_id, now, host=code.name, host_id=code.host_id)
    record(
        db,
        actor,
        Event.CERT_ISSUED,
        Outcome.SUCCESS,
        now,
        org_id=code.org_id,
        detail=f"host={code.host_id} serial={issued.record.serial} "
        f"spki_sha256={issued.record.spki_sha256} not_after={issued.record.not_after.isoformat()}",
    )
    await db.commit()
    await cut_revoked(request.app.state.relay, code.org_id, code.host_id, superseded)
    return Enrolled(
        host_id=code.host_id,
        name=code.name,
        organization=organization.name if organization is not None else "",
        certificate=issued.cert_pem(),
        ca_certificate=issued.ca_pem(),
        not_after=issued.record.not_after,
        agent_url=request.app.state.agent_url,
    )

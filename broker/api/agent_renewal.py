"""``POST /agent/renew`` on the agent port: an agent renews its own certificate.

The agent proves its current certificate in the TLS handshake (checked like ``/ws/agent``)
and sends a CSR for the same host on a fresh key; it gets a certificate of full lifetime
back. The certificate it replaces stays valid until its own end (an answer lost on the way
must not lock a clinic PC out) unless revoked; a live link moves to the new serial, so
revoking the new certificate ends it.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from broker.agents.auth import authenticate, source_of
from broker.agents.ca import AgentAuthority
from broker.agents.enrollment import CSR_PEM_PATTERN, MAX_CSR_CHARS, load_csr
from broker.api import deps
from broker.api.deps import Db
from broker.audit.record import Actor, Event, Outcome, record
from broker.errors import BadRequest, Forbidden
from broker.signaling.relay import Relay
from certs.errors import CsrRefused

router = APIRouter(tags=["agent"])


class RenewalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csr: str = Field(
        max_length=MAX_CSR_CHARS, pattern=CSR_PEM_PATTERN, description="PEM CSR, new key"
    )


class Renewed(BaseModel):
    certificate: str = Field(description="PEM client certificate")
    ca_certificate: str = Field(description="PEM certificate of the organization's agent CA")
    not_after: datetime


@router.post("/agent/renew", status_code=201)
async def renew(body: RenewalRequest, request: Request, db: Db) -> Renewed:
    """A new client certificate for the agent whose certificate this connection shows."""
    agent = await authenticate(request)
    if agent is None:
        raise Forbidden("client certificate refused", code="certificate_refused")
    authority: AgentAuthority = request.app.state.agent_authority
    now = deps.now_of(request)
    actor = Actor(source_of(request), name=f"agent:{agent.host_id}")
    csr = load_csr(body.csr)
    try:
        if csr is None:
            raise CsrRefused("not a PEM certificate signing request")
        issued = await authority.renew(db, agent, csr, now)
    except CsrRefused as exc:
        record(
            db,
            actor,
            Event.CERT_RENEWED,
            Outcome.DENIED,
            now,
            org_id=agent.org_id,
            detail=f"host={agent.host_id} serial={agent.serial} refused: {exc}",
        )
        await db.commit()
        raise BadRequest(str(exc), code="csr_refused") from exc
    new_serial = issued.record.serial
    record(
        db,
        actor,
        Event.CERT_RENEWED,
        Outcome.SUCCESS,
        now,
        org_id=agent.org_id,
        detail=f"host={agent.host_id} serial={agent.serial}->{new_serial} "
        f"not_after={issued.record.not_after.isoformat()}",
    )
    await db.commit()
    relay: Relay = request.app.state.relay
    link = relay.agent(agent.org_id, agent.host_id)
    if link is not None and link.certificate_serial == agent.serial:
        link.certificate_serial = new_serial
    return Renewed(
        certificate=issued.cert_pem(),
        ca_certificate=issued.ca_pem(),
        not_after=issued.record.not_after,
    )

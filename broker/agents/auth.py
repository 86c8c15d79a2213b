"""Who a connection on the agent port is: its client certificate, checked against the
database (issuer, organization, revocation, validity by the broker's clock, our record of
it) before anything else happens. Every refusal is audited with its reason.
"""

from __future__ import annotations

import logging

from cryptography.x509.oid import NameOID
from starlette.requests import HTTPConnection

from broker.agents.ca import AgentAuthority, VerifiedAgent
from broker.agents.tls import peer_certificate
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from certs.client_certs import serial_hex
from certs.errors import ClientCertRefused

log = logging.getLogger(__name__)


def source_of(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


async def authenticate(conn: HTTPConnection) -> VerifiedAgent | None:
    """The agent this connection's client certificate speaks for; None (audited) if none."""
    db: Database = conn.app.state.db
    clock: Clock = conn.app.state.clock
    authority: AgentAuthority = conn.app.state.agent_authority
    cert = peer_certificate(conn.scope)
    now = clock.now()
    async with db.session() as s:
        if cert is None:
            reason, detail, org_id = "no_certificate", "reason=no_certificate", None
        else:
            try:
                return await authority.verify(s, cert, now)
            except ClientCertRefused as exc:
                names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                host = str(names[0].value) if names else "?"
                reason = exc.reason
                detail = f"reason={reason} host={host} serial={serial_hex(cert.serial_number)}"
                org_id = authority.organization_of_issuer(cert)
        log.warning("agent refused before upgrade from %s: %s", source_of(conn), detail)
        record(
            s,
            Actor(source_of(conn), name="agent"),
            Event.AGENT_REFUSED,
            Outcome.DENIED,
            now,
            org_id=org_id,
            detail=detail,
        )
        await s.commit()
    return None

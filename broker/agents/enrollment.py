"""One-time enrollment codes: how a clinic PC joins its organization.

An admin makes a code for one host (id and name) of the organization; it is shown once,
stored as a SHA-256 digest, expires after an hour and works once. The agent sends it with a
CSR made on the host; the code decides the organization and the host id the certificate
will name, so the CSR's subject must be exactly that host id.

A code reads ``<organization id>-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`` (160 random bits,
base32 so it survives being read aloud or typed). The organization part is the clinic the
person enrolling means to join: a code of another organization is refused, not silently
used for the organization it belongs to.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import AgentEnrollmentCode
from broker.errors import EnrollmentRefused
from broker.secretbox import token_digest

CODE_TTL: Final = timedelta(hours=1)  # issue 4: an enrollment code expires in 1 h
CODE_BYTES: Final = 20  # 160 bits: a fast digest of it cannot be reversed by guessing
MAX_CODE_CHARS: Final = 64
_CODE = re.compile(r"^([1-9][0-9]{0,17})-((?:[A-Z2-7]{4}-){7}[A-Z2-7]{4})$")
# The protocol's host id rule (broker/protocol): the certificate names this host id.
HOST_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
# A PEM CSR and nothing else: base64 lines between the armour (RFC 7468).
CSR_PEM_PATTERN: Final = (
    r"^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+"
    r"-----END CERTIFICATE REQUEST-----\r?\n?$"
)
MAX_CSR_CHARS: Final = 4096


@dataclass(frozen=True)
class CodeIssued:
    code: str
    record: AgentEnrollmentCode


def _new_secret() -> str:
    text = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_code(code: str) -> tuple[int, str] | None:
    """(organization id, secret part) of a well-formed code, or None."""
    if len(code) > MAX_CODE_CHARS:
        return None
    match = _CODE.match(code.strip().upper())
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


async def create_code(
    session: AsyncSession,
    org_id: int,
    host_id: str,
    name: str,
    created_by: int | None,
    now: datetime,
) -> CodeIssued:
    """A new code for ``host_id`` of ``org_id``; only its digest is stored (caller commits)."""
    secret = _new_secret()
    record = AgentEnrollmentCode(
        org_id=org_id,
        code_hash=token_digest(secret),
        host_id=host_id,
        name=name,
        created_by=created_by,
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    session.add(record)
    await session.flush()
    return CodeIssued(f"{org_id}-{secret}", record)


async def redeem(
    session: AsyncSession, code: str, host_id: str, now: datetime
) -> AgentEnrollmentCode:
    """The code's record if ``host_id`` may enroll with it now; not yet spent (``spend``).

    Raises:
        EnrollmentRefused: unknown, another organization's, used, expired, or made for
            another host.
    """
    parsed = parse_code(code)
    record = None
    if parsed is not None:
        record = await session.scalar(
            select(AgentEnrollmentCode).where(
                AgentEnrollmentCode.code_hash == token_digest(parsed[1])
            )
        )
    if parsed is None or record is None:
        raise EnrollmentRefused("code_unknown", "no such enrollment code")
    if record.org_id != parsed[0]:
        raise EnrollmentRefused(
            "code_other_organization",
            "this enrollment code belongs to another organization",
            record.org_id,
        )
    if record.used_at is not None:
        raise EnrollmentRefused("code_used", "this enrollment code was used already", record.org_id)
    if now >= record.expires_at:
        raise EnrollmentRefused("code_expired", "this enrollment code has expired", record.org_id)
    if record.host_id != host_id:
        raise EnrollmentRefused(
            "host_mismatch",
            f"this enrollment code is for host {record.host_id}",
            record.org_id,
        )
    return record


async def claim(session: AsyncSession, record: AgentEnrollmentCode, now: datetime) -> bool:
    """Take the code for this enrollment, atomically: of concurrent requests with one code
    only one gets True (a conditional UPDATE; issue 12: one code raced into two
    certificates). Undone with the transaction if the enrollment fails later."""
    result = await session.execute(
        update(AgentEnrollmentCode)
        .where(AgentEnrollmentCode.id == record.id, AgentEnrollmentCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    record.used_at = now
    return True


def spend(record: AgentEnrollmentCode, now: datetime) -> None:
    """Use the code up: after a certificate was issued, or a tampered CSR was seen."""
    record.used_at = now


def load_csr(pem: str) -> x509.CertificateSigningRequest | None:
    """A PEM CSR, or None when it does not parse."""
    try:
        return x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        return None

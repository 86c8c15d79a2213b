"""Each organization's agent CA and the client certificates it issues, kept in the database.

A CA is made the first time an organization needs one (its first enrollment code, or
``python -m broker certs ca``). Its private key is sealed with AES-256-GCM under a key
derived from MAMORI_SECRET_KEY, bound to the organization, and opened only to sign. Every
certificate it issues is recorded (serial, host, key fingerprint, validity, renewal,
revocation): a certificate is accepted only while its record says so, on top of the
signature and validity checks of ``certs.client_certs`` (MHLW.md rows 14-15).

The CA certificates (public) are cached in memory: the agent port's TLS context trusts
exactly them (``on_new_ca`` tells it about each one), and verification finds a
certificate's organization by its issuer name.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.agents.status import CertificateStatus, GoodCertificate
from broker.db.models import AgentCertificate, OrganizationCa
from broker.errors import CaKeyError
from broker.secretbox import SecretBox
from certs.authority import Issued, create_ca
from certs.client_certs import (
    AgentIdentity,
    issue_client_cert,
    renew_client_cert,
    serial_hex,
    spki_sha256,
    verify_client_cert,
)
from certs.errors import UnknownCertificate

CA_PURPOSE: Final = "agent ca v1"
CA_DAYS: Final = 3650


@dataclass(frozen=True)
class VerifiedAgent:
    """Who a client certificate that passed every check speaks for."""

    org_id: int
    host_id: str
    serial: str
    not_after: datetime
    cert: x509.Certificate


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate just issued, its record, and the CA that signed it."""

    record: AgentCertificate
    cert: x509.Certificate
    ca_cert: x509.Certificate

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def ca_pem(self) -> str:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()


def _binding(org_id: int) -> str:
    return f"org-ca:{org_id}"


class AgentAuthority:
    """The organizations' agent CAs: create, issue, renew, verify, revoke, list."""

    def __init__(self, master_key: bytes, lifetime: timedelta) -> None:
        self._box = SecretBox(master_key, CA_PURPOSE)
        self.lifetime = lifetime
        # By subject name: the name a certificate's issuer field points at. A CA learnt in a
        # transaction that was then rolled back stays here harmlessly (nothing it could
        # sign exists) and never hides the organization's real CA.
        self._cas: dict[x509.Name, tuple[int, x509.Certificate]] = {}
        self._listeners: list[Callable[[x509.Certificate], None]] = []
        # Good certificates in memory (broker.agents.status): handshakes skip the database.
        self.status = CertificateStatus()

    def on_new_ca(self, listener: Callable[[x509.Certificate], None]) -> None:
        """Call ``listener`` with every CA known now and every one learnt later."""
        self._listeners.append(listener)
        for _, ca in self._cas.values():
            listener(ca)

    def _learn(self, org_id: int, cert: x509.Certificate) -> None:
        if cert.subject in self._cas:
            return
        self._cas[cert.subject] = (org_id, cert)
        for listener in self._listeners:
            listener(cert)

    def organization_of_issuer(self, cert: x509.Certificate) -> int | None:
        """The organization whose CA's name ``cert`` names as issuer (not yet verified)."""
        known = self._cas.get(cert.issuer)
        return known[0] if known is not None else None

    async def load(self, session: AsyncSession) -> None:
        """Learn every CA in the database (one made by the CLI in another process too)."""
        rows = await session.execute(select(OrganizationCa.org_id, OrganizationCa.cert_pem))
        known = {org_id for org_id, _ in self._cas.values()}
        for org_id, pem in rows:
            if org_id not in known:  # an organization has one CA: parse only new ones
                self._learn(org_id, x509.load_pem_x509_certificate(pem.encode()))

    async def ensure_ca(
        self, session: AsyncSession, org_id: int, now: datetime
    ) -> x509.Certificate:
        """The organization's CA certificate, made now if it has none (the caller commits)."""
        row = await session.scalar(select(OrganizationCa).where(OrganizationCa.org_id == org_id))
        if row is not None:
            cert = x509.load_pem_x509_certificate(row.cert_pem.encode())
            self._learn(org_id, cert)
            return cert
        # A random part keeps CA names distinct across brokers and re-made databases, so a
        # name never leads verification to the wrong CA.
        ca = create_ca(f"Mamori agent CA {org_id}-{secrets.token_hex(4)}", CA_DAYS)
        session.add(
            OrganizationCa(
                org_id=org_id,
                cert_pem=ca.cert_pem().decode(),
                key_sealed=self._box.seal(ca.key_pem(), _binding(org_id)),
                created_at=now,
                not_after=ca.cert.not_valid_after_utc,
            )
        )
        await session.flush()
        self._learn(org_id, ca.cert)
        return ca.cert

    async def signing_ca(self, session: AsyncSession, org_id: int, now: datetime) -> Issued:
        """The organization's CA with its key opened (made now if it has none)."""
        cert = await self.ensure_ca(session, org_id, now)
        sealed = await session.scalar(
            select(OrganizationCa.key_sealed).where(OrganizationCa.org_id == org_id)
        )
        if sealed is None:
            raise CaKeyError("the organization has no CA key")
        try:
            key = serialization.load_pem_private_key(
                self._box.open(sealed, _binding(org_id)), password=None
            )
        except Exception as exc:
            raise CaKeyError("the CA key does not open under this secret key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaKeyError("the CA key is not an ECDSA key")
        return Issued(key, cert)

    async def _record(
        self,
        session: AsyncSession,
        org_id: int,
        host_id: str,
        cert: x509.Certificate,
        now: datetime,
    ) -> AgentCertificate:
        row = AgentCertificate(
            org_id=org_id,
            host_id=host_id,
            serial=serial_hex(cert.serial_number),
            spki_sha256=spki_sha256(cert.public_key()),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            issued_at=now,
        )
        session.add(row)
        await session.flush()
        return row

    async def issue(
        self,
        session: AsyncSession,
        org_id: int,
        host_id: str,
        csr: x509.CertificateSigningRequest,
        now: datetime,
    ) -> IssuedCertificate:
        """Sign an enrolling host's CSR (raises ``CsrRefused``); the caller commits."""
        signer = await self.signing_ca(session, org_id, now)
        cert = issue_client_cert(signer, csr, str(org_id), host_id, now=now, lifetime=self.lifetime)
        row = await self._record(session, org_id, host_id, cert, now)
        return IssuedCertificate(row, cert, signer.cert)

    async def renew(
        self,
        session: AsyncSession,
        agent: VerifiedAgent,
        csr: x509.CertificateSigningRequest,
        now: datetime,
    ) -> IssuedCertificate:
        """A new certificate on a fresh key for an agent that proved its current one."""
        signer = await self.signing_ca(session, agent.org_id, now)
        identity_cert = agent.cert
        cert = renew_client_cert(
            signer,
            csr,
            identity_cert,
            _identity_of(agent),
            now=now,
            lifetime=self.lifetime,
        )
        await session.execute(
            update(AgentCertificate)
            .where(AgentCertificate.org_id == agent.org_id, AgentCertificate.serial == agent.serial)
            .values(renewed_at=now)
        )
        row = await self._record(session, agent.org_id, agent.host_id, cert, now)
        return IssuedCertificate(row, cert, signer.cert)

    async def verify(
        self, session: AsyncSession, cert: x509.Certificate, now: datetime
    ) -> VerifiedAgent:
        """Who ``cert`` speaks for, if it may connect now.

        Raises:
            certs.errors.ClientCertRefused: unknown issuer, another organization, revoked,
                expired, or a certificate this broker has no record of.
        """
        if cert.issuer not in self._cas:
            await self.load(session)
        known = self._cas.get(cert.issuer)
        org_id = known[0] if known is not None else None
        cas = {str(known[0]): known[1]} if known is not None else {}
        serial = serial_hex(cert.serial_number)
        good: GoodCertificate | None = None
        revoked: set[int] = set()
        if org_id is not None:
            good = self.status.get(org_id, serial, now)
            if good is None:
                generation = self.status.generation
                row = await session.scalar(
                    select(AgentCertificate).where(
                        AgentCertificate.org_id == org_id, AgentCertificate.serial == serial
                    )
                )
                if row is not None and row.revoked_at is not None:
                    revoked = {cert.serial_number}
                elif row is not None:
                    good = GoodCertificate(row.host_id, row.spki_sha256, row.not_after)
                    self.status.learn(org_id, row, generation)
        identity = verify_client_cert(cert, cas, revoked, now)
        if (
            good is None
            or good.host_id != identity.host_id
            or good.spki_sha256 != spki_sha256(cert.public_key())
        ):
            raise UnknownCertificate("this broker has no record of the certificate")
        return VerifiedAgent(
            int(identity.organization_id), identity.host_id, serial, identity.not_after, cert
        )

    async def problem(
        self, session: AsyncSession, org_id: int, serial: str, now: datetime
    ) -> str | None:
        """Why a certificate a live link authenticated with may no longer be used, or None."""
        row = await session.scalar(
            select(AgentCertificate).where(
                AgentCertificate.org_id == org_id, AgentCertificate.serial == serial
            )
        )
        if row is None:
            return "unknown_certificate"
        if row.revoked_at is not None:
            return "revoked"
        if now > row.not_after:
            return "expired"
        return None

    async def revoke_host(
        self,
        session: AsyncSession,
        org_id: int,
        host_id: str,
        reason: str,
        now: datetime,
        keep: str | None = None,
    ) -> list[str]:
        """Revoke every live certificate of a host but ``keep``; their serials (the caller
        commits)."""
        rows = await session.scalars(
            select(AgentCertificate).where(
                AgentCertificate.org_id == org_id,
                AgentCertificate.host_id == host_id,
                AgentCertificate.revoked_at.is_(None),
                AgentCertificate.serial != (keep or ""),
            )
        )
        serials = []
        for row in rows:
            row.revoked_at, row.revoked_reason = now, reason
            serials.append(row.serial)
        self.status.forget(org_id, serials)
        await session.flush()
        return serials

    async def revoke(
        self, session: AsyncSession, org_id: int, serial: str, reason: str, now: datetime
    ) -> AgentCertificate | None:
        """Revoke one certificate of ``org_id``; None if it has no such (live) certificate."""
        row = await session.scalar(
            select(AgentCertificate).where(
                AgentCertificate.org_id == org_id,
                AgentCertificate.serial == serial.lower().lstrip("0"),
                AgentCertificate.revoked_at.is_(None),
            )
        )
        if row is not None:
            row.revoked_at, row.revoked_reason = now, reason
            self.status.forget(org_id, [row.serial])
            await session.flush()
        return row

    async def certificates(self, session: AsyncSession, org_id: int) -> list[AgentCertificate]:
        """Every certificate of the organization, newest first."""
        rows = await session.scalars(
            select(AgentCertificate)
            .where(AgentCertificate.org_id == org_id)
            .order_by(AgentCertificate.issued_at.desc(), AgentCertificate.id.desc())
        )
        return list(rows)


def _identity_of(agent: VerifiedAgent) -> AgentIdentity:
    return AgentIdentity(
        str(agent.org_id), agent.host_id, agent.cert.serial_number, agent.not_after
    )

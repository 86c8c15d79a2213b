"""Client certificates for host agents: CSRs from the host, issued by the organization CA.

The agent makes its key pair on the host (the private key never leaves it) and sends a CSR
with a one-time enrolment code; the broker checks the CSR and signs a short-lived client
certificate naming the organization and the host. On every connection the certificate is
checked against that organization's CA, the revocation list and its validity period
(MHLW.md rows 14–15: client certificates, mutual authentication).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import Issued
from certs.errors import CsrRefused, Expired, Revoked, UnknownIssuer, WrongOrganization

# Short-lived: agents renew themselves well before expiry, and a stolen certificate that
# escapes revocation dies on its own.
CLIENT_CERT_DAYS: Final = 90


@dataclass(frozen=True)
class AgentIdentity:
    """Who a verified client certificate speaks for."""

    organization_id: str
    host_id: str
    serial: int
    not_after: dt.datetime


def make_csr(key: ec.EllipticCurvePrivateKey, host_id: str) -> x509.CertificateSigningRequest:
    """The agent's request: its public key and its host id, signed with its private key."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_id)]))
        .sign(key, hashes.SHA256())
    )


def issue_client_cert(
    ca: Issued,
    csr: x509.CertificateSigningRequest,
    organization_id: str,
    host_id: str,
    now: dt.datetime | None = None,
    valid_days: int = CLIENT_CERT_DAYS,
) -> x509.Certificate:
    """Sign ``csr`` for ``host_id`` of ``organization_id`` with that organization's CA.

    Raises:
        CsrRefused: the CSR's signature does not verify (key or subject altered after
            signing), its key is not ECDSA P-256, or it names another host.
    """
    if not csr.is_signature_valid:
        raise CsrRefused("the CSR's signature does not match its key and subject")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CsrRefused("the CSR's key must be ECDSA P-256")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != host_id or len(csr.subject) != 1:
        raise CsrRefused("the CSR's subject must be exactly the enrolled host id")
    now = now or dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_id),
            x509.NameAttribute(NameOID.COMMON_NAME, host_id),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .sign(ca.key, hashes.SHA256())
    )


def verify_client_cert(
    cert: x509.Certificate,
    organization_cas: Mapping[str, x509.Certificate],
    revoked_serials: Collection[int],
    now: dt.datetime | None = None,
) -> AgentIdentity:
    """Who ``cert`` speaks for, if it may connect at all.

    Args:
        cert: the certificate the agent presented.
        organization_cas: each organization's CA certificate, by organization id.
        revoked_serials: serials revoked (by any organization).
        now: the time to check validity at.

    Raises:
        UnknownIssuer, WrongOrganization, Revoked, Expired.
    """
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    hosts = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(orgs) != 1 or len(hosts) != 1:
        raise UnknownIssuer("the certificate does not name one organization and one host")
    claimed_org, host_id = str(orgs[0].value), str(hosts[0].value)
    issuer_org = _issuing_organization(cert, organization_cas)
    if issuer_org is None:
        raise UnknownIssuer("the certificate is not signed by any organization CA")
    if issuer_org != claimed_org:
        raise WrongOrganization("the certificate names another organization than its CA's")
    if cert.serial_number in revoked_serials:
        raise Revoked(f"certificate {cert.serial_number:x} is revoked")
    now = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Expired("the certificate is outside its validity period")
    return AgentIdentity(claimed_org, host_id, cert.serial_number, cert.not_valid_after_utc)


def _issuing_organization(
    cert: x509.Certificate, organization_cas: Mapping[str, x509.Certificate]
) -> str | None:
    for organization_id, ca in organization_cas.items():
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return organization_id
    return None

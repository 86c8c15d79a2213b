"""Client certificates for host agents: CSRs from the host, issued by the organization CA.

The agent makes its key pair on the host (the private key never leaves it) and sends a CSR
with a one-time enrolment code; the broker checks the CSR and signs a short-lived client
certificate naming the organization and the host. On every connection the certificate is
checked against that organization's CA, the revocation list and its validity period
(MHLW.md rows 14–15: client certificates, mutual authentication).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import Issued
from certs.errors import CsrRefused, Expired, Revoked, UnknownIssuer, WrongOrganization

# Short-lived: agents renew themselves well before expiry, and a stolen certificate that
# escapes revocation dies on its own.
CLIENT_CERT_DAYS: Final = 90
# Backdated this much (at most a tenth of the lifetime) so a host whose clock is a little
# behind the broker's can use a certificate at once.
CLOCK_SKEW: Final = dt.timedelta(minutes=5)
# An agent renews once less than this share of its certificate's lifetime is left.
RENEW_WHEN_LEFT: Final = 1 / 3


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
    lifetime: dt.timedelta | None = None,
) -> x509.Certificate:
    """Sign ``csr`` for ``host_id`` of ``organization_id`` with that organization's CA.

    ``lifetime`` (if given) replaces ``valid_days``: renewal tests use seconds.

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
    valid_for = lifetime if lifetime is not None else dt.timedelta(days=valid_days)
    skew = min(CLOCK_SKEW, valid_for / 10)
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
        .not_valid_before(now - skew)
        .not_valid_after(now + valid_for)
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


def renew_client_cert(
    ca: Issued,
    csr: x509.CertificateSigningRequest,
    current: x509.Certificate,
    identity: AgentIdentity,
    now: dt.datetime | None = None,
    lifetime: dt.timedelta | None = None,
) -> x509.Certificate:
    """A new certificate for the identity ``current`` proved, on a fresh key.

    Raises:
        CsrRefused: the CSR fails the checks of ``issue_client_cert``, or it reuses the key
            of the certificate it renews (a renewal must rotate the key, so a key copied off
            the host stops working at the old certificate's end).
    """
    if spki_sha256(csr.public_key()) == spki_sha256(current.public_key()):
        raise CsrRefused("a renewal needs a new key")
    return issue_client_cert(
        ca, csr, identity.organization_id, identity.host_id, now=now, lifetime=lifetime
    )


def renewal_due(cert: x509.Certificate) -> dt.datetime:
    """When an agent should renew ``cert``: once less than a third of its lifetime is left."""
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - lifetime * RENEW_WHEN_LEFT


def spki_sha256(key: CertificatePublicKeyTypes) -> str:
    """Hex SHA-256 of a public key's SubjectPublicKeyInfo (the key's fingerprint)."""
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def serial_hex(serial: int) -> str:
    """A certificate serial as stored and shown: lowercase hex, no leading zeros."""
    return f"{serial:x}"

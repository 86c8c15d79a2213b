"""Agent client certificates: CSR checks at issue, and every refusal at verification."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certs.authority import create_ca
from certs.client_certs import (
    issue_client_cert,
    make_csr,
    renew_client_cert,
    renewal_due,
    verify_client_cert,
)
from certs.errors import CsrRefused, Expired, Revoked, UnknownIssuer, WrongOrganization

pytestmark = pytest.mark.unit

CLINIC_A = create_ca("Mamori CA clinic-a")
CLINIC_B = create_ca("Mamori CA clinic-b")
CAS = {"clinic-a": CLINIC_A.cert, "clinic-b": CLINIC_B.cert}
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def agent_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_issued_certificate_verifies_as_its_org_and_host() -> None:
    """A CSR for the enrolled host yields a certificate that verifies to that identity."""
    cert = issue_client_cert(CLINIC_A, make_csr(agent_key(), "pc-1"), "clinic-a", "pc-1", NOW)
    identity = verify_client_cert(cert, CAS, revoked_serials=set(), now=NOW)
    assert (identity.organization_id, identity.host_id) == ("clinic-a", "pc-1")
    assert identity.not_after == NOW + dt.timedelta(days=90)


def test_csr_for_another_host_is_refused() -> None:
    """A CSR whose subject is not the host the enrolment code was made for is refused."""
    with pytest.raises(CsrRefused, match="subject"):
        issue_client_cert(CLINIC_A, make_csr(agent_key(), "pc-2"), "clinic-a", "pc-1", NOW)


def test_csr_with_a_swapped_key_is_refused() -> None:
    """A CSR whose public key was replaced after signing fails its signature check."""
    csr = make_csr(agent_key(), "pc-1")
    other = (
        agent_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    original = csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = csr.public_bytes(serialization.Encoding.DER)
    assert original in der
    tampered = x509.load_der_x509_csr(der.replace(original, other))
    with pytest.raises(CsrRefused, match="signature"):
        issue_client_cert(CLINIC_A, tampered, "clinic-a", "pc-1", NOW)


def test_csr_with_an_altered_subject_is_refused() -> None:
    """Editing the subject bytes after signing breaks the CSR's signature."""
    der = make_csr(agent_key(), "pc-1").public_bytes(serialization.Encoding.DER)
    tampered = x509.load_der_x509_csr(der.replace(b"pc-1", b"pc-9"))
    with pytest.raises(CsrRefused, match="signature"):
        issue_client_cert(CLINIC_A, tampered, "clinic-a", "pc-9", NOW)


def test_csr_with_an_rsa_key_is_refused() -> None:
    """Only ECDSA P-256 keys are signed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pc-1")]))
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(CsrRefused, match="P-256"):
        issue_client_cert(CLINIC_A, csr, "clinic-a", "pc-1", NOW)


def test_certificate_from_another_ca_is_refused() -> None:
    """A certificate signed by a CA we do not hold is an unknown issuer."""
    stranger = create_ca("Mamori CA clinic-a")  # same name, different key
    cert = issue_client_cert(stranger, make_csr(agent_key(), "pc-1"), "clinic-a", "pc-1", NOW)
    with pytest.raises(UnknownIssuer):
        verify_client_cert(cert, CAS, revoked_serials=set(), now=NOW)


def test_certificate_naming_another_organization_is_refused() -> None:
    """Clinic B's CA cannot vouch for a host of clinic A."""
    cert = issue_client_cert(CLINIC_B, make_csr(agent_key(), "pc-1"), "clinic-a", "pc-1", NOW)
    with pytest.raises(WrongOrganization):
        verify_client_cert(cert, CAS, revoked_serials=set(), now=NOW)


def test_revoked_certificate_is_refused() -> None:
    """A certificate whose serial is revoked is refused."""
    cert = issue_client_cert(CLINIC_A, make_csr(agent_key(), "pc-1"), "clinic-a", "pc-1", NOW)
    with pytest.raises(Revoked):
        verify_client_cert(cert, CAS, revoked_serials={cert.serial_number}, now=NOW)


def test_expired_and_not_yet_valid_certificates_are_refused() -> None:
    """Outside its validity period a certificate is refused."""
    cert = issue_client_cert(CLINIC_A, make_csr(agent_key(), "pc-1"), "clinic-a", "pc-1", NOW)
    with pytest.raises(Expired):
        verify_client_cert(cert, CAS, set(), now=NOW + dt.timedelta(days=91))
    with pytest.raises(Expired):
        verify_client_cert(cert, CAS, set(), now=NOW - dt.timedelta(hours=1))


def test_renewal_needs_a_new_key_and_keeps_the_identity() -> None:
    """A renewal on a fresh key names the same organization and host; the old key is
    refused."""
    old_key = agent_key()
    current = issue_client_cert(CLINIC_A, make_csr(old_key, "pc-1"), "clinic-a", "pc-1", NOW)
    identity = verify_client_cert(current, CAS, set(), now=NOW)
    later = NOW + dt.timedelta(days=61)
    renewed = renew_client_cert(CLINIC_A, make_csr(agent_key(), "pc-1"), current, identity, later)
    assert verify_client_cert(renewed, CAS, set(), now=later).host_id == "pc-1"
    assert renewed.not_valid_after_utc == later + dt.timedelta(days=90)
    with pytest.raises(CsrRefused, match="new key"):
        renew_client_cert(CLINIC_A, make_csr(old_key, "pc-1"), current, identity, later)


def test_renewal_is_due_with_a_third_of_the_lifetime_left() -> None:
    """Short certificates are backdated by a tenth of their life at most, and renew once a
    third of it is left."""
    cert = issue_client_cert(
        CLINIC_A,
        make_csr(agent_key(), "pc-1"),
        "clinic-a",
        "pc-1",
        NOW,
        lifetime=dt.timedelta(seconds=90),
    )
    assert cert.not_valid_before_utc == NOW - dt.timedelta(seconds=9)
    assert renewal_due(cert) == NOW + dt.timedelta(seconds=90) - dt.timedelta(seconds=33)

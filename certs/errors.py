"""Exceptions of the certificate tooling.

Exception tree::

    CertificateError
    ├── CsrRefused             a CSR that must not be signed (bad signature, wrong key type,
    │                          a subject other than the one enrolment expects)
    └── ClientCertRefused      a client certificate that must not be accepted
        ├── UnknownIssuer      not signed by any organization CA we hold
        ├── WrongOrganization  signed by another organization's CA, or naming another
        ├── Revoked            its serial is on the revocation list
        ├── Expired            outside its validity period
        └── UnknownCertificate signed by an organization CA but not issued by this broker
                               (no record of its serial)
"""

from __future__ import annotations


class CertificateError(Exception):
    """Base of every certificate error; the message is safe to log and to audit."""


class CsrRefused(CertificateError):
    """The certificate signing request is refused."""


class ClientCertRefused(CertificateError):
    """The client certificate is refused; ``reason`` is a token for the audit trail."""

    reason = "refused"


class UnknownIssuer(ClientCertRefused):
    reason = "unknown_issuer"


class WrongOrganization(ClientCertRefused):
    reason = "wrong_organization"


class Revoked(ClientCertRefused):
    reason = "revoked"


class Expired(ClientCertRefused):
    reason = "expired"


class UnknownCertificate(ClientCertRefused):
    reason = "unknown_certificate"

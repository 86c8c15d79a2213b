"""``python -m host_agent enroll``: join the organization with a one-time code.

The key pair is made here, on the host; only a CSR (public key and host id, signed with the
private key) and the code go to the broker, over TLS to its browser port. The broker answers
with a client certificate signed by the organization's CA, which the agent then shows on the
agent port (mutual TLS). A refusal (a used, expired or unknown code, another organization's
code, a host id the code was not made for) is printed as the broker worded it.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs.client_certs import make_csr
from host_agent.errors import AgentConfigError, BrokerRefused
from host_agent.trust.credentials import AgentState, Enrollment

HOST_ID: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TIMEOUT_S: Final = 30.0
MAX_ANSWER_BYTES: Final = 64 * 1024


def post_json(url: str, body: dict[str, str], context: ssl.SSLContext) -> dict[str, Any]:
    """POST JSON over TLS; the JSON answer, or BrokerRefused with the broker's words."""
    request = urllib.request.Request(  # noqa: S310  (https only: checked by the callers)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=TIMEOUT_S) as response:  # noqa: S310
            answer = json.loads(response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read(MAX_ANSWER_BYTES))
            reason = f"{error.get('message')} ({error.get('error')})"
        except ValueError:
            reason = exc.reason
        raise BrokerRefused(exc.code, str(reason)) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AgentConfigError(f"cannot reach the broker at {url}: {exc}") from exc
    if not isinstance(answer, dict):
        raise AgentConfigError("the broker's answer is not a JSON object")
    return answer


def certificate_for(
    answer: dict[str, Any], key: ec.EllipticCurvePrivateKey, host_id: str
) -> tuple[x509.Certificate, x509.Certificate]:
    """The client certificate and CA certificate of an answer, checked to be for our key and
    host (a broker must not hand us someone else's)."""
    try:
        cert = x509.load_pem_x509_certificate(str(answer["certificate"]).encode())
        ca = x509.load_pem_x509_certificate(str(answer["ca_certificate"]).encode())
    except (KeyError, ValueError) as exc:
        raise AgentConfigError("the broker's answer holds no certificate") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if (
        cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki)
        or not names
        or names[0].value != host_id
    ):
        raise AgentConfigError("the broker returned a certificate for another key or host")
    return cert, ca


def enroll(
    broker_url: str,
    code: str,
    host_id: str,
    name: str,
    state: AgentState,
    ca_file: str | None = None,
) -> Enrollment:
    """Enroll this host; its key, certificate and settings go to ``state``."""
    if not broker_url.startswith("https://"):
        raise AgentConfigError("--broker must be the https:// address of the broker")
    if not HOST_ID.match(host_id):
        raise AgentConfigError("host ids are 1-63 of a-z 0-9 - and start with a letter or digit")
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(key, host_id).public_bytes(serialization.Encoding.PEM).decode()
    answer = post_json(
        broker_url.rstrip("/") + "/api/agent-enrollment",
        {"code": code.strip(), "host_id": host_id, "csr": csr},
        context,
    )
    cert, ca = certificate_for(answer, key, host_id)
    enrollment = Enrollment(
        host_id=host_id,
        name=name,
        organization=str(answer.get("organization", "")),
        broker_url=broker_url.rstrip("/"),
        agent_url=str(answer.get("agent_url", "")),
    )
    state.save(key, cert, ca, enrollment, Path(ca_file) if ca_file else None)
    return enrollment

"""Enrolling a clinic PC with a one-time code, on both storage backends: the certificate it
gets, and every refusal (reused, expired, other-organization code; a CSR whose key or
subject was altered, or names another host), each audited."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from broker.db.models import AuditEvent
from certs.client_certs import make_csr
from devkit.agent import enroll_agent, make_code
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_org, sign_in_client, signed_in
from host_agent.errors import BrokerRefused
from host_agent.trust.credentials import AgentState
from host_agent.trust.enrollment import enroll
from tests.support.agent_hello import say_hello

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

HOST = "reception-pc"


async def events(broker: RunningBroker, name: str) -> list[AuditEvent]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
        )
        return list(rows)


async def agent_enroll(
    broker: RunningBroker, code: str, directory: Path, host_id: str = HOST
) -> AgentState:
    state = AgentState(directory)
    await asyncio.to_thread(
        enroll, broker.https_url, code, host_id, "受付", state, str(broker.certs.ca_cert)
    )
    return state


async def refused(broker: RunningBroker, code: str, directory: Path, host_id: str = HOST) -> str:
    """Enroll and expect a refusal; the broker's error code."""
    with pytest.raises(BrokerRefused) as refusal:
        await agent_enroll(broker, code, directory, host_id)
    assert refusal.value.code in {400, 403}
    return refusal.value.reason


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def test_admin_code_enrolls_the_host_with_a_key_made_on_it(
    any_broker: RunningBroker, admin: Person, tmp_path: Path
) -> None:
    """An admin's code and the exact command shown enroll the PC: the key stays in a 0600
    file, the certificate names the organization and host, the console lists the host, and
    code, enrollment and certificate are audited."""
    broker = any_broker
    async with broker.http() as http:
        boss = await sign_in_client(broker, http, admin)
        made = await boss.post(
            "/api/admin/enrollment-codes", json={"host_id": HOST, "name": "受付"}
        )
        assert made.status_code == 201
        body = made.json()
        assert body["command"] == (
            f"python -m host_agent enroll --broker {broker.public_origin} --code {body['code']} "
            f"--host-id {HOST} --name '受付'"
        )
        state = await agent_enroll(broker, body["code"], tmp_path / "agent")
        mode = stat.S_IMODE(state.identity_file.stat().st_mode)
        assert mode == 0o600
        assert "PRIVATE KEY" in state.identity_file.read_text()
        cert = state.certificate()
        assert cert.subject.rfc4514_string() == f"CN={HOST},O={admin.org_id}"
        assert state.enrollment().agent_url == broker.app.state.agent_url
        hosts = (await http.get("/api/admin/hosts")).json()
        assert [(h["host_id"], h["online"], h["certificate_state"]) for h in hosts] == [
            (HOST, False, "valid")
        ]
        assert hosts[0]["certificate"]["serial"] == f"{cert.serial_number:x}"
    for name in ("enrollment_code_created", "host_enrolled", "cert_issued"):
        (event,) = await events(broker, name)
        assert event.org_id == admin.org_id
        assert HOST in event.detail
    assert body["code"] not in (await events(broker, "enrollment_code_created"))[0].detail


async def test_a_code_works_once(any_broker: RunningBroker, clinic: Org, tmp_path: Path) -> None:
    """The same code again is refused (enrollment_code_used) and audited."""
    code = await make_code(any_broker, clinic, HOST)
    await agent_enroll(any_broker, code, tmp_path / "first")
    assert "enrollment_code_used" in await refused(any_broker, code, tmp_path / "second")
    (event,) = await events(any_broker, "enrollment_refused")
    assert (event.org_id, event.outcome) == (clinic.id, "denied")
    assert "reason=code_used" in event.detail


async def test_a_code_expires_after_an_hour(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """A code unused for an hour is refused (enrollment_code_expired) and audited."""
    code = await make_code(any_broker, clinic, HOST)
    any_broker.clock.advance(3600)
    assert "enrollment_code_expired" in await refused(any_broker, code, tmp_path / "agent")
    (event,) = await events(any_broker, "enrollment_refused")
    assert "reason=code_expired" in event.detail


async def test_another_organizations_code_is_refused(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """Clinic A's code presented for clinic B is refused (and not used up for A)."""
    other = await make_org(any_broker, "ほかの医院")
    code = await make_code(any_broker, clinic, HOST)
    secret = code.split("-", 1)[1]
    reason = await refused(any_broker, f"{other.id}-{secret}", tmp_path / "agent")
    assert "enrollment_code_other_organization" in reason
    (event,) = await events(any_broker, "enrollment_refused")
    assert event.org_id == clinic.id
    assert "reason=code_other_organization" in event.detail
    await agent_enroll(any_broker, code, tmp_path / "agent")  # still good for its own clinic


async def test_unknown_code_and_code_for_another_host_are_refused(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """A made-up code, and a good code used for a host it was not made for, are refused."""
    made_up = f"{clinic.id}-" + "-".join(["ABCD"] * 8)
    assert "enrollment_code_unknown" in await refused(any_broker, made_up, tmp_path / "a")
    code = await make_code(any_broker, clinic, HOST)
    assert "enrollment_host_mismatch" in await refused(any_broker, code, tmp_path / "b", "other")
    reasons = [e.detail.split()[0] for e in await events(any_broker, "enrollment_refused")]
    assert reasons == ["reason=code_unknown", "reason=host_mismatch"]


@pytest.mark.parametrize("alteration", ["key", "subject", "other-host"])
async def test_csr_with_altered_key_or_subject_is_refused(
    any_broker: RunningBroker, clinic: Org, alteration: str
) -> None:
    """A CSR whose key or subject was changed after signing (signature mismatch), or that
    names another host than the code's, is refused with csr_refused, audited, and spends
    the code."""
    code = await make_code(any_broker, clinic, HOST)
    signed = make_csr(new_key(), HOST)
    der = signed.public_bytes(serialization.Encoding.DER)
    if alteration == "key":
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        original = signed.public_key().public_bytes(serialization.Encoding.DER, spki)
        swapped = new_key().public_key().public_bytes(serialization.Encoding.DER, spki)
        csr = x509.load_der_x509_csr(der.replace(original, swapped))
    elif alteration == "subject":
        csr = x509.load_der_x509_csr(der.replace(HOST.encode(), b"reception-pX"))
    else:
        csr = make_csr(new_key(), "other-pc-12")
    async with any_broker.http() as http:
        body = {"code": code, "host_id": HOST, "csr": csr_pem(csr)}
        response = await http.post("/api/agent-enrollment", json=body)
        assert response.status_code == 400
        assert response.json()["error"] == "enrollment_csr_refused"
        again = await http.post("/api/agent-enrollment", json={**body, "csr": csr_pem(signed)})
        assert again.json()["error"] == "enrollment_code_used"
    first = (await events(any_broker, "enrollment_refused"))[0]
    assert "reason=csr_refused" in first.detail
    assert await events(any_broker, "cert_issued") == []


async def test_enrolling_a_host_again_revokes_its_old_certificate(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """A reinstalled PC enrolled again: the earlier certificate is revoked (superseded)."""
    first = await agent_enroll(
        any_broker, await make_code(any_broker, clinic, HOST), tmp_path / "1"
    )
    old_serial = f"{first.certificate().serial_number:x}"
    await agent_enroll(any_broker, await make_code(any_broker, clinic, HOST), tmp_path / "2")
    async with any_broker.db.session() as s:
        problem = await any_broker.app.state.agent_authority.problem(
            s, clinic.id, old_serial, any_broker.clock.now()
        )
    assert problem == "revoked"
    (event,) = await events(any_broker, "cert_revoked")
    assert "reason=superseded" in event.detail


async def broker_cli(broker: RunningBroker, *args: str) -> list[str]:
    """``python -m broker ARGS`` against this broker's database; its output lines."""
    settings = broker.settings
    env = {
        **os.environ,
        "MAMORI_SECRET_KEY": settings.secret_key,
        "MAMORI_TLS_CERT": str(settings.tls_cert),
        "MAMORI_TLS_KEY": str(settings.tls_key),
        "MAMORI_DATABASE_URL": settings.database_url,
        "MAMORI_PUBLIC_URL": broker.public_origin,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode().splitlines()


async def test_cli_makes_codes_lists_and_revokes_certificates(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """``enrollment-code`` prints a code that enrolls the host; ``certs list`` shows its
    certificate, ``certs revoke`` revokes it (audited), ``certs ca`` prints the clinic's CA."""
    out = await broker_cli(
        any_broker, "enrollment-code", "--org", clinic.name, "--host-id", HOST, "--name", "受付"
    )
    code = out[out.index("One-time enrollment code (valid 1 h):") + 1]
    assert out[-1].endswith(f"--code {code} --host-id {HOST} --name '受付'")
    state = await agent_enroll(any_broker, code, tmp_path / "agent")
    serial = f"{state.certificate().serial_number:x}"
    (listed,) = await broker_cli(any_broker, "certs", "list", "--org", clinic.name)
    assert listed.split("\t")[:3] == [serial, HOST, "valid"]
    revoked = await broker_cli(
        any_broker, "certs", "revoke", "--org", clinic.name, "--host-id", HOST
    )
    assert revoked == [f"revoked {serial} ({HOST})"]
    (listed,) = await broker_cli(any_broker, "certs", "list", "--org", clinic.name)
    assert listed.split("\t")[2] == "revoked"
    (event,) = await events(any_broker, "cert_revoked")
    assert f"serial={serial}" in event.detail
    ca_pem = "\n".join(await broker_cli(any_broker, "certs", "ca", "--org", clinic.name))
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    assert state.certificate().issuer == ca.subject


async def test_hosts_show_each_agent_version_against_the_brokers(
    any_broker: RunningBroker, clinic: Org, admin: Person, tmp_path: Path
) -> None:
    """The hosts API keeps the version each agent said when it last connected and flags
    those older than the broker (compared as versions) or never heard from."""
    any_broker.app.state.version = "0.10.0"
    states = {
        host: await enroll_agent(any_broker, clinic, host, tmp_path / host)
        for host in ("a-old", "b-current", "c-silent")
    }
    await say_hello(any_broker, states["a-old"], "a-old", "0.9.0")
    await say_hello(any_broker, states["b-current"], "b-current", "0.9.0")
    await say_hello(any_broker, states["b-current"], "b-current", "0.10.0")  # updated since
    async with signed_in(any_broker, admin) as boss:
        hosts = (await boss.http.get("/api/admin/hosts")).json()
    assert [
        (h["host_id"], h["agent_version"], h["agent_outdated"], h["broker_version"]) for h in hosts
    ] == [
        ("a-old", "0.9.0", True, "0.10.0"),
        ("b-current", "0.10.0", False, "0.10.0"),
        ("c-silent", None, True, "0.10.0"),
    ]

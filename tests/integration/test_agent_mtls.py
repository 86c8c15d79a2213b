"""The agent port: mutual TLS with the organizations' CAs. Certificates from another CA (or
none) fail the TLS handshake; revoked, expired and other-organization certificates get HTTP
403 before any WebSocket; TLS 1.2 only when allowed; revocation cuts a live agent; agents
renew their certificates themselves. Every refusal is audited with its reason."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import mamori_protocol as protocol
from broker.agents.ca import AgentAuthority
from broker.db.models import AgentCertificate, AuditEvent
from certs.authority import Issued, create_ca
from certs.client_certs import issue_client_cert, make_csr
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.identity import Org, make_org, make_person, signed_in
from host_agent.errors import BrokerRefused
from host_agent.trust.credentials import AgentState
from host_agent.trust.enrollment import post_json
from host_agent.trust.renewal import keep_renewed, renewal_url
from mamori_protocol import CloseCode, Direction
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def audited(broker: RunningBroker, event: str) -> list[AuditEvent]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
        )
        return list(rows)


async def wait_audited(broker: RunningBroker, event: str, text: str) -> AuditEvent:
    for _ in range(100):
        found = [e for e in await audited(broker, event) if text in e.detail]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {event} record with {text!r}")


def authority_of(broker: RunningBroker) -> AgentAuthority:
    authority: AgentAuthority = broker.app.state.agent_authority
    return authority


def agent_connect(broker: RunningBroker, context: ssl.SSLContext) -> connect:
    return connect(f"{broker.agent_wss_url}/ws/agent", ssl=context, open_timeout=10)


def client_context(
    broker: RunningBroker, identity: Path | None, tls12_only: bool = False
) -> ssl.SSLContext:
    """Trusts the broker's CA; shows ``identity`` (key + certificate PEM) if given."""
    context = ssl.create_default_context(cafile=str(broker.certs.ca_cert))
    if tls12_only:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    if identity is not None:
        context.load_cert_chain(str(identity))
    return context


def write_identity(path: Path, key: ec.EllipticCurvePrivateKey, cert_pem: bytes) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert_pem
    )
    return path


async def say_hello(ws: ClientConnection, host_id: str = HOST_ID) -> None:
    await ws.send(protocol.encode(protocol.AgentHello(host_id, "診察室1", "0.1.0")))


async def refused_before_upgrade(broker: RunningBroker, context: ssl.SSLContext) -> int:
    """The HTTP status that refused the WebSocket upgrade."""
    with pytest.raises(InvalidStatus) as refusal:
        async with agent_connect(broker, context):
            pass
    return refusal.value.response.status_code


def _tls_refusal(port: int, context: ssl.SSLContext) -> None:
    """Open TLS and send an upgrade request: the connection must end without one byte of
    HTTP. (asyncio drops a connection whose handshake failed without flushing OpenSSL's
    alert, so the client sees the end of the stream, not the alert.)"""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /ws/agent HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = tls.recv(1024)
        except (ssl.SSLError, ConnectionResetError):
            return
    assert answer == b"", f"the agent port answered: {answer[:80]!r}"


async def handshake_refused(broker: RunningBroker, context: ssl.SSLContext, why: str) -> str:
    """Expect the TLS layer to refuse; the audit record's detail, which must name ``why``
    (OpenSSL's reason on the broker's side)."""
    await asyncio.to_thread(_tls_refusal, broker.agent_port, context)
    event = await wait_audited(broker, "agent_refused", "reason=tls")
    assert why in event.detail, event.detail
    assert event.outcome == "denied"
    return event.detail


async def closed(ws: ClientConnection, timeout_s: float) -> int | None:
    async with asyncio.timeout(timeout_s):
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code


async def test_enrolled_agent_connects_and_is_bound_to_its_certificate(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """An enrolled host's certificate opens /ws/agent; the link belongs to the certificate's
    organization and remembers its serial."""
    relay = broker.app.state.relay
    async with agent_connect(broker, agent_state.ssl_context()) as ws:
        await say_hello(ws)
        await wait_until(lambda: relay.agent(org.id, HOST_ID) is not None)
        link = relay.agent(org.id, HOST_ID)
        assert link.certificate_serial == f"{agent_state.certificate().serial_number:x}"


async def test_certificate_from_another_ca_fails_the_tls_handshake(
    broker: RunningBroker, org: Org, agent_state: AgentState, tmp_path: Path
) -> None:
    """A certificate naming the right organization and host, from a CA the broker does not
    hold, is refused by the TLS handshake itself (alert unknown CA), and audited."""
    stranger = create_ca("Mamori agent CA (stranger)")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_client_cert(stranger, make_csr(key, HOST_ID), str(org.id), HOST_ID)
    identity = write_identity(
        tmp_path / "stranger.pem", key, cert.public_bytes(serialization.Encoding.PEM)
    )
    detail = await handshake_refused(
        broker, client_context(broker, identity), "CERTIFICATE_VERIFY_FAILED"
    )
    assert "unable to get local issuer certificate" in detail


async def test_no_certificate_fails_the_tls_handshake(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """Without a client certificate the agent port never answers HTTP."""
    await handshake_refused(
        broker, client_context(broker, None), "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    )


async def test_revoked_certificate_is_refused_before_the_upgrade(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """A revoked certificate passes TLS (its CA is known) but gets HTTP 403, audited."""
    async with broker.db.session() as s:
        await authority_of(broker).revoke_host(
            s, org.id, HOST_ID, "compromised", broker.clock.now()
        )
        await s.commit()
    assert await refused_before_upgrade(broker, agent_state.ssl_context()) == 403
    event = await wait_audited(broker, "agent_refused", "reason=revoked")
    assert event.org_id == org.id
    assert f"host={HOST_ID}" in event.detail


async def test_expired_certificate_is_refused_before_the_upgrade(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """Past its end (by the broker's clock) a certificate gets HTTP 403, audited."""
    broker.clock.advance(91 * 24 * 3600)
    assert await refused_before_upgrade(broker, agent_state.ssl_context()) == 403
    event = await wait_audited(broker, "agent_refused", "reason=expired")
    assert event.org_id == org.id


async def test_certificate_naming_another_organization_is_refused_before_the_upgrade(
    broker: RunningBroker, org: Org, agent_state: AgentState, tmp_path: Path
) -> None:
    """A certificate signed by clinic A's CA but naming clinic B gets HTTP 403, audited."""
    other = await make_org(broker, "B医院")
    authority = authority_of(broker)
    async with broker.db.session() as s:
        await authority.ensure_ca(s, other.id, broker.clock.now())
        signer: Issued = await authority.signing_ca(s, org.id, broker.clock.now())
        await s.commit()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_client_cert(signer, make_csr(key, HOST_ID), str(other.id), HOST_ID)
    identity = write_identity(
        tmp_path / "b.pem", key, cert.public_bytes(serialization.Encoding.PEM)
    )
    assert await refused_before_upgrade(broker, client_context(broker, identity)) == 403
    event = await wait_audited(broker, "agent_refused", "reason=wrong_organization")
    assert event.org_id == org.id


async def test_hello_naming_another_host_is_refused(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """The agent_hello must name the certificate's host id: another one is closed (4401)."""
    async with agent_connect(broker, agent_state.ssl_context()) as ws:
        await say_hello(ws, "someone-else")
        error = protocol.parse(await ws.recv(), Direction.BROKER_TO_AGENT)
        assert isinstance(error, protocol.Error)
        assert error.code == "unauthorized"
        assert await closed(ws, 5) == CloseCode.UNAUTHORIZED
    assert broker.app.state.relay.agent(org.id, "someone-else") is None
    await wait_audited(broker, "agent_refused", "reason=host_mismatch")


async def test_tls_1_2_is_refused_by_default(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """An agent limited to TLS 1.2 fails the handshake (unsupported protocol), audited."""
    context = client_context(broker, agent_state.identity_file, tls12_only=True)
    await handshake_refused(broker, context, "UNSUPPORTED_PROTOCOL")


@pytest.mark.parametrize("broker", [{"agent_tls12": True}], indirect=True)
async def test_tls_1_2_is_accepted_when_the_setting_allows(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """With MAMORI_AGENT_TLS12 on, the same TLS 1.2 agent connects (still mutual TLS)."""
    context = client_context(broker, agent_state.identity_file, tls12_only=True)
    async with agent_connect(broker, context) as ws:
        await say_hello(ws)
        await wait_until(lambda: broker.app.state.relay.agent(org.id, HOST_ID) is not None)
    await handshake_refused(
        broker, client_context(broker, None, tls12_only=True), "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    )


async def test_revoking_a_host_disconnects_its_live_agent(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """An admin's revocation in the console cuts the connected agent at once (4401), is
    audited, and the agent cannot come back."""
    admin = await make_person(broker, org, "admin")
    relay = broker.app.state.relay
    async with (
        agent_connect(broker, agent_state.ssl_context()) as ws,
        signed_in(broker, admin) as boss,
    ):
        await say_hello(ws)
        await wait_until(lambda: relay.agent(org.id, HOST_ID) is not None)
        response = await boss.post(
            f"/api/admin/hosts/{HOST_ID}/revoke", json={"reason": "compromised"}
        )
        assert response.status_code == 200
        assert response.json()["certificate_state"] == "revoked"
        assert await closed(ws, 2) == CloseCode.UNAUTHORIZED
    await wait_until(lambda: relay.agent(org.id, HOST_ID) is None)
    (event,) = await audited(broker, "cert_revoked")
    assert "reason=compromised" in event.detail
    assert await refused_before_upgrade(broker, agent_state.ssl_context()) == 403


@pytest.mark.parametrize("broker", [{"agent_recheck_s": 1}], indirect=True)
async def test_a_revocation_from_the_cli_cuts_the_agent_at_the_next_recheck(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """Revoked in the database by another process (the CLI), a live link is cut within the
    recheck interval, and the cut is audited."""
    serial = f"{agent_state.certificate().serial_number:x}"
    async with agent_connect(broker, agent_state.ssl_context()) as ws:
        await say_hello(ws)
        await wait_until(lambda: broker.app.state.relay.agent(org.id, HOST_ID) is not None)
        async with broker.db.session() as s:
            assert await authority_of(broker).revoke(
                s, org.id, serial, "decommissioned", broker.clock.now()
            )
            await s.commit()
        assert await closed(ws, 3) == CloseCode.UNAUTHORIZED
    await wait_audited(broker, "agent_refused", "disconnected")


# Nine seconds is below the one hour production allows: set past validation.
@pytest.mark.parametrize("broker", [{"unchecked": {"agent_cert_lifetime_s": 9}}], indirect=True)
async def test_the_agent_renews_its_certificate_before_it_expires(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """With 9-second certificates the agent renews after about 6 s, on a fresh key, before
    the old one ends; the renewal is audited and the new certificate opens the agent port."""
    old = agent_state.certificate()
    stop = asyncio.Event()
    renewer = asyncio.create_task(keep_renewed(agent_state, broker.agent_wss_url, stop))
    try:
        await wait_until(
            lambda: agent_state.certificate().serial_number != old.serial_number, timeout_s=15
        )
    finally:
        stop.set()
        await renewer
    new = agent_state.certificate()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert new.public_key().public_bytes(der, spki) != old.public_key().public_bytes(der, spki)
    assert new.not_valid_after_utc > old.not_valid_after_utc
    event = await wait_audited(broker, "cert_renewed", f"{old.serial_number:x}->")
    assert event.outcome == "success"
    async with broker.db.session() as s:
        row = await s.scalar(
            select(AgentCertificate).where(AgentCertificate.serial == f"{old.serial_number:x}")
        )
        assert row is not None
        assert row.renewed_at is not None
        assert row.renewed_at < row.not_after
    async with agent_connect(broker, agent_state.ssl_context()) as ws:
        await say_hello(ws)
        await wait_until(lambda: broker.app.state.relay.agent(org.id, HOST_ID) is not None)


async def test_a_renewal_must_bring_a_new_key(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """A renewal CSR on the certificate's own key is refused (csr_refused) and audited."""
    key = serialization.load_pem_private_key(agent_state.identity_file.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    csr = make_csr(key, HOST_ID).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(BrokerRefused) as refusal:
        await asyncio.to_thread(
            post_json, renewal_url(broker.agent_wss_url), {"csr": csr}, agent_state.ssl_context()
        )
    assert refusal.value.code == 400
    assert "csr_refused" in refusal.value.reason
    event = await wait_audited(broker, "cert_renewed", "refused")
    assert event.outcome == "denied"


async def test_a_ca_from_a_rolled_back_transaction_does_not_hide_the_real_one(
    broker: RunningBroker, org: Org, tmp_path: Path
) -> None:
    """A CA made in a transaction that was rolled back (a failed request) leaves the agent
    port able to trust the CA the organization really gets next."""
    async with broker.db.session() as s:
        await authority_of(broker).ensure_ca(s, org.id, broker.clock.now())
        await s.rollback()
    state = await enroll_agent(broker, org, HOST_ID, tmp_path / "agent")
    async with agent_connect(broker, state.ssl_context()) as ws:
        await say_hello(ws)
        await wait_until(lambda: broker.app.state.relay.agent(org.id, HOST_ID) is not None)

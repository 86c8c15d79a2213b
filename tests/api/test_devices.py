"""Viewing devices over the API: registration (pending), the owner's view, the admin's
approve / deny / revoke, self-approval, and every way a viewer ticket is refused for a
device reason, each refusal with its stable code and an audit record."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.devices import DeviceKey, approved_device, b64url, challenge, proof, register
from devkit.identity import Org, Person, SignedIn, make_org, make_person, signed_in

pytestmark = pytest.mark.integration

HOST = "clinic-pc-1"


async def audit(broker: RunningBroker, event: str) -> list[AuditEvent]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
        )
        return list(rows)


async def refused_with(
    broker: RunningBroker, response: httpx.Response, status: int, code: str, *, audited: str
) -> None:
    """The response is ``status``/``code``, and the newest ``audited`` event says so."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    records = await audit(broker, audited)
    assert records, f"no {audited} audit record"
    assert records[-1].outcome == "denied"
    assert code in records[-1].detail


async def pending_device(user: SignedIn) -> DeviceKey:
    key = DeviceKey()
    response = await register(user, key)
    assert response.status_code == 201, response.text
    return key


async def admin_of(broker: RunningBroker, person: Person) -> Person:
    return await make_person(broker, Org(person.org_id, ""), "admin")


# ---- registration and the owner's view ---------------------------------------------------


async def test_a_registered_device_is_pending_and_its_owner_sees_it(
    any_broker: RunningBroker, person: Person
) -> None:
    """Registering a key makes a pending device the owner can see; the same key again
    answers the same device (200) and is not registered twice; it is audited once."""
    async with signed_in(any_broker, person) as user:
        key = DeviceKey()
        first = await user.http.post(
            "/api/devices",
            json={"label": "自宅のノート PC", "public_key": key.jwk},
            headers={**user.headers, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140"},
        )
        assert first.status_code == 201, first.text
        device = first.json()
        assert device["state"] == "pending"
        assert device["label"] == "自宅のノート PC"
        assert device["fingerprint"] == key.fingerprint
        again = await register(user, key, "another label")
        assert again.status_code == 200
        assert again.json()["id"] == device["id"]
        mine = (await user.http.get("/api/devices")).json()["devices"]
    assert [(d["id"], d["state"]) for d in mine] == [(device["id"], "pending")]
    async with signed_in(any_broker, await admin_of(any_broker, person)) as boss:
        listed = (await boss.http.get("/api/admin/devices")).json()["devices"]
    assert listed[0]["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64) Chrome/140"
    registered = await audit(any_broker, "device_registered")
    assert [(e.outcome, e.actor) for e in registered] == [("success", person.username)]
    assert f"device={device['id']}" in registered[0].detail


async def test_a_key_that_is_not_a_p256_point_is_refused_and_audited(
    any_broker: RunningBroker, person: Person
) -> None:
    """A JWK whose (x, y) is not on P-256 gets 400 device_key_invalid and an audit record."""
    jwk = DeviceKey().jwk
    y = int.from_bytes(base64.urlsafe_b64decode(str(jwk["y"]) + "=="), "big")
    jwk["y"] = b64url((y ^ 1).to_bytes(32, "big"))
    async with signed_in(any_broker, person) as user:
        response = await user.post("/api/devices", json={"label": "x", "public_key": jwk})
        assert (await user.http.get("/api/devices")).json()["devices"] == []
    await refused_with(any_broker, response, 400, "device_key_invalid", audited="device_registered")
    assert "not a valid P-256 point" in (await audit(any_broker, "device_registered"))[-1].detail


@pytest.mark.parametrize(
    "change",
    [{"crv": "P-384"}, {"kty": "RSA"}, {"d": "c2VjcmV0"}, {"x": "c2hvcnQ"}],
    ids=["other-curve", "other-type", "private-part", "short-coordinate"],
)
async def test_other_bad_device_keys_are_refused_and_audited(
    broker: RunningBroker, doctor: Person, change: dict[str, str]
) -> None:
    """Another curve or key type, private material, a short coordinate: device_key_invalid."""
    async with signed_in(broker, doctor) as user:
        response = await user.post(
            "/api/devices", json={"label": "x", "public_key": {**DeviceKey().jwk, **change}}
        )
    await refused_with(broker, response, 400, "device_key_invalid", audited="device_registered")


async def test_too_many_pending_devices_are_refused(broker: RunningBroker, doctor: Person) -> None:
    """A person waits for at most five approvals at once (device_limit, audited)."""
    async with signed_in(broker, doctor) as user:
        for _ in range(5):
            await pending_device(user)
        response = await register(user, DeviceKey())
    await refused_with(broker, response, 409, "device_limit", audited="device_registered")


async def test_registration_needs_a_label_and_a_closed_schema(
    broker: RunningBroker, doctor: Person
) -> None:
    """A blank label, an unknown field or an oversized coordinate is a 400 invalid_request."""
    async with signed_in(broker, doctor) as user:
        jwk = DeviceKey().jwk
        bodies: list[object] = [
            {"label": "   ", "public_key": jwk},
            {"label": "x", "public_key": jwk, "state": "approved"},
            {"label": "x", "public_key": {**jwk, "x": "A" * 65}},
            {"label": "x", "public_key": {**jwk, "kid": "1"}},
        ]
        for body in bodies:
            response = await user.post("/api/devices", json=body)
            assert response.status_code == 400, body
            assert response.json()["error"] == "invalid_request"


# ---- tickets: each device reason for refusal ----------------------------------------------


async def test_an_approved_device_gets_a_ticket(broker: RunningBroker, user: SignedIn) -> None:
    """Challenge, signature, ticket: the device's last use is noted and the ticket audited
    with the device."""
    key = await approved_device(broker, user)
    response = await user.post("/api/viewer-tickets", json=await proof(user, key, HOST))
    assert response.status_code == 201, response.text
    mine = (await user.http.get("/api/devices")).json()["devices"]
    assert mine[0]["state"] == "approved"
    assert mine[0]["last_used_at"] is not None
    assert f"device={key.device_id}" in (await audit(broker, "viewer_ticket"))[-1].detail


async def test_a_pending_device_gets_no_challenge(broker: RunningBroker, user: SignedIn) -> None:
    """Until an admin approves it, the device is refused (device_pending, audited)."""
    key = await pending_device(user)
    response = await challenge(user, key, HOST)
    await refused_with(broker, response, 403, "device_pending", audited="session_refused")


async def test_a_denied_device_gets_no_challenge(
    broker: RunningBroker, user: SignedIn, doctor: Person
) -> None:
    """A denied device is refused (device_denied, audited)."""
    key = await pending_device(user)
    async with signed_in(broker, await admin_of(broker, doctor)) as boss:
        assert (await boss.post(f"/api/admin/devices/{key.device_id}/deny")).status_code == 200
    response = await challenge(user, key, HOST)
    await refused_with(broker, response, 403, "device_denied", audited="session_refused")


async def test_a_revoked_device_gets_no_challenge_nor_ticket(
    broker: RunningBroker, user: SignedIn, doctor: Person
) -> None:
    """Revoked between challenge and ticket: the ticket is refused (device_revoked), and
    so is every later challenge."""
    key = await approved_device(broker, user)
    body = await proof(user, key, HOST)
    async with signed_in(broker, await admin_of(broker, doctor)) as boss:
        assert (await boss.post(f"/api/admin/devices/{key.device_id}/revoke")).status_code == 200
    response = await user.post("/api/viewer-tickets", json=body)
    await refused_with(broker, response, 403, "device_revoked", audited="session_refused")
    response = await challenge(user, key, HOST)
    await refused_with(broker, response, 403, "device_revoked", audited="session_refused")


async def test_an_unknown_device_is_refused(
    broker: RunningBroker, user: SignedIn, org: Org
) -> None:
    """A key nobody registered, or a colleague's approved device, is device_unknown (404)."""
    response = await challenge(user, DeviceKey(), HOST)
    await refused_with(broker, response, 404, "device_unknown", audited="session_refused")
    colleague = await make_person(broker, org, "staff")
    async with signed_in(broker, colleague) as them:
        theirs = await approved_device(broker, them)
    response = await challenge(user, theirs, HOST)
    await refused_with(broker, response, 404, "device_unknown", audited="session_refused")


async def test_a_replayed_signature_is_refused(broker: RunningBroker, user: SignedIn) -> None:
    """The same challenge and signature sent twice: the second is device_challenge."""
    key = await approved_device(broker, user)
    body = await proof(user, key, HOST)
    assert (await user.post("/api/viewer-tickets", json=body)).status_code == 201
    response = await user.post("/api/viewer-tickets", json=body)
    await refused_with(broker, response, 403, "device_challenge", audited="session_refused")


async def test_a_signature_by_another_key_is_refused(broker: RunningBroker, user: SignedIn) -> None:
    """A signature by a key other than the device's is device_signature, and the challenge
    is spent: the right signature afterwards is refused too."""
    key = await approved_device(broker, user)
    body = await proof(user, key, HOST)
    thief = DeviceKey()
    forged = {**body, "signature": thief.sign(HOST, body["challenge"])}
    response = await user.post("/api/viewer-tickets", json=forged)
    await refused_with(broker, response, 403, "device_signature", audited="session_refused")
    response = await user.post("/api/viewer-tickets", json=body)
    await refused_with(broker, response, 403, "device_challenge", audited="session_refused")


@pytest.mark.parametrize(
    "signature", ["", "AAAA", b64url(b"\x00" * 64), b64url(b"\x01" * 72)], ids=str
)
async def test_malformed_signatures_are_refused(
    broker: RunningBroker, user: SignedIn, signature: str
) -> None:
    """Empty (schema), short, all-zero or overlong signatures never earn a ticket."""
    key = await approved_device(broker, user)
    body = {**await proof(user, key, HOST), "signature": signature}
    response = await user.post("/api/viewer-tickets", json=body)
    if signature == "":
        assert response.status_code == 400
        return
    await refused_with(broker, response, 403, "device_signature", audited="session_refused")


async def test_a_challenge_is_bound_to_its_host_session_and_lifetime(
    broker: RunningBroker, user: SignedIn, doctor: Person
) -> None:
    """A challenge signed for another host, answered from another browser session of the
    same person, or answered after 30 s is device_challenge."""
    key = await approved_device(broker, user)
    # Another host: the signature is over the other host's message and the row names HOST.
    body = await proof(user, key, HOST)
    other_host = {
        **body,
        "host_id": "other-pc",
        "signature": key.sign("other-pc", body["challenge"]),
    }
    response = await user.post("/api/viewer-tickets", json=other_host)
    await refused_with(broker, response, 403, "device_challenge", audited="session_refused")
    # Another session of the same person, with the same (approved) device key.
    body = await proof(user, key, HOST)
    async with signed_in(broker, doctor) as second:
        response = await second.post("/api/viewer-tickets", json=body)
    await refused_with(broker, response, 403, "device_challenge", audited="session_refused")
    # Expired.
    body = await proof(user, key, HOST)
    broker.clock.advance(31)
    response = await user.post("/api/viewer-tickets", json=body)
    await refused_with(broker, response, 403, "device_challenge", audited="session_refused")


async def test_a_ticket_needs_the_device_proof(broker: RunningBroker, user: SignedIn) -> None:
    """The old ticket request (a host id alone) is a 400: no ticket without a device."""
    response = await user.post("/api/viewer-tickets", json={"host_id": HOST})
    assert response.status_code == 400
    assert {f["field"] for f in response.json()["fields"]} == {
        "body.device",
        "body.challenge",
        "body.signature",
    }


async def test_a_device_revoked_after_its_ticket_is_refused_at_the_upgrade(
    broker: RunningBroker, user: SignedIn, doctor: Person
) -> None:
    """The viewer WebSocket re-checks the device: a ticket earned before the revocation
    opens nothing (403 before the upgrade) and the refusal is audited."""
    ticket = await user.ticket(HOST)
    async with signed_in(broker, await admin_of(broker, doctor)) as boss:
        revoked = await boss.post(f"/api/admin/devices/{user.device.device_id}/revoke")  # type: ignore[union-attr]
        assert revoked.status_code == 200
    with pytest.raises(InvalidStatus) as failure:
        async with connect(
            f"{broker.wss_url}/ws/viewer?ticket={ticket}",
            ssl=broker.client_ssl(),
            additional_headers={"Cookie": user.cookie_header()},
            origin=broker.origin,  # type: ignore[arg-type]
        ):
            pass
    assert failure.value.response.status_code == 403
    refusal = (await audit(broker, "session_refused"))[-1]
    assert refusal.detail.startswith("device_revoked host=clinic-pc-1")


# ---- the admin's decisions ---------------------------------------------------------------


async def test_approve_deny_and_revoke_through_the_api(
    any_broker: RunningBroker, clinic: Org, person: Person, admin: Person
) -> None:
    """The admin sees pending devices first with a count, approves one, denies another,
    revokes the approved one; decisions that do not fit the state are 409 device_state;
    each decision is audited with the owner as target."""
    async with signed_in(any_broker, person) as user:
        first, second = await pending_device(user), await pending_device(user)
    async with signed_in(any_broker, admin) as boss:
        register_view = (await boss.http.get("/api/admin/devices")).json()
        assert register_view["pending"] == 2
        assert {d["state"] for d in register_view["devices"]} == {"pending"}
        assert register_view["devices"][0]["owner_username"] == person.username
        approved = await boss.post(f"/api/admin/devices/{first.device_id}/approve")
        assert approved.status_code == 200
        assert approved.json()["state"] == "approved"
        assert approved.json()["decided_by"] == admin.username
        denied = await boss.post(f"/api/admin/devices/{second.device_id}/deny")
        assert denied.json()["state"] == "denied"
        wrong = await boss.post(f"/api/admin/devices/{first.device_id}/deny")
        assert wrong.status_code == 409
        assert wrong.json()["error"] == "device_state"
        revoked = await boss.post(f"/api/admin/devices/{first.device_id}/revoke")
        assert revoked.json()["state"] == "revoked"
        again = await boss.post(f"/api/admin/devices/{first.device_id}/approve")
        assert again.json()["error"] == "device_state"
        after = (await boss.http.get("/api/admin/devices")).json()
        assert after["pending"] == 0
        missing = await boss.post("/api/admin/devices/999999/approve")
        assert missing.status_code == 404
    decisions = [
        (e.event, e.outcome, e.target_user_id)
        for e in await audit(any_broker, "device_approved")
        + await audit(any_broker, "device_denied")
        + await audit(any_broker, "device_revoked")
    ]
    assert decisions == [
        ("device_approved", "success", person.user_id),
        ("device_denied", "success", person.user_id),
        ("device_revoked", "success", person.user_id),
    ]


async def test_only_admins_decide(broker: RunningBroker, user: SignedIn) -> None:
    """A doctor cannot list the register or approve their own device (403)."""
    key = await pending_device(user)
    assert (await user.http.get("/api/admin/devices")).status_code == 403
    response = await user.post(f"/api/admin/devices/{key.device_id}/approve")
    assert response.status_code == 403


async def test_the_only_admin_approves_their_own_device_and_it_is_audited_as_such(
    broker: RunningBroker, org: Org
) -> None:
    """In a one-admin clinic the admin approves their own device (audited self_approval);
    once a second admin exists, an admin's own device needs the other admin."""
    director = await make_person(broker, org, "admin")
    async with signed_in(broker, director) as me:
        mine = await pending_device(me)
        listing = (await me.http.get("/api/admin/devices")).json()
        assert listing["self_approval"] is True
        assert listing["devices"][0]["own"] is True
        assert (await me.post(f"/api/admin/devices/{mine.device_id}/approve")).status_code == 200
        assert (
            await me.post("/api/viewer-tickets", json=await proof(me, mine, HOST))
        ).status_code == 201
    approval = (await audit(broker, "device_approved"))[-1]
    assert approval.outcome == "success"
    assert approval.detail.endswith("self_approval")

    deputy = await make_person(broker, org, "admin")
    async with signed_in(broker, director) as me:
        laptop = await pending_device(me)
        assert (await me.http.get("/api/admin/devices")).json()["self_approval"] is False
        response = await me.post(f"/api/admin/devices/{laptop.device_id}/approve")
        assert response.status_code == 403
        assert response.json()["error"] == "self_approval"
    refused = (await audit(broker, "device_approved"))[-1]
    assert (refused.outcome, refused.detail.endswith("self_approval_refused")) == ("denied", True)
    async with signed_in(broker, deputy) as other:
        response = await other.post(f"/api/admin/devices/{laptop.device_id}/approve")
        assert response.status_code == 200
    assert not (await audit(broker, "device_approved"))[-1].detail.endswith("self_approval")


async def test_an_admins_device_in_another_clinic_is_not_found(broker: RunningBroker) -> None:
    """Approving another clinic's device answers 404 like a missing one, and changes nothing."""
    clinic_a, clinic_b = await make_org(broker, "A医院"), await make_org(broker, "B医院")
    admin_a = await make_person(broker, clinic_a, "admin")
    doctor_b = await make_person(broker, clinic_b, "doctor")
    async with signed_in(broker, doctor_b) as b:
        key_b = await pending_device(b)
    async with signed_in(broker, admin_a) as a:
        for action in ("approve", "deny", "revoke"):
            response = await a.post(f"/api/admin/devices/{key_b.device_id}/{action}")
            assert response.status_code == 404
        assert (await a.http.get("/api/admin/devices")).json()["devices"] == []
    async with signed_in(broker, doctor_b) as b:
        assert (await b.http.get("/api/devices")).json()["devices"][0]["state"] == "pending"

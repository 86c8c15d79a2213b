"""Tenants: an admin of clinic A walks every route against clinic B's objects and gets
nothing; A's viewer cannot reach B's host."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import mamori_protocol as protocol
from broker.access import grants, source_networks, vendor_requests
from broker.alerts import records as alerts
from broker.db.models import AlertSettings, Grant, Host, Organization, VendorRequest
from broker.identity import mfa
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.devices import DeviceKey, approve_as_admin, register
from devkit.identity import Org, make_org, make_person, sign_in_client
from mamori_protocol import CloseCode, Direction

pytestmark = pytest.mark.integration

B_HOST = "b-only-pc"

# Every route of the API, and what the walk sends to it. A route added without an entry
# here fails test_the_walk_covers_every_route: tenant scoping must be thought about.
WALK: dict[tuple[str, str], str] = {
    ("GET", "/api/session"): "list",
    ("POST", "/api/login"): "login",
    ("POST", "/api/login/totp"): "mfa-stage",
    ("POST", "/api/login/recovery"): "mfa-stage",
    ("POST", "/api/login/passkey/options"): "mfa-stage",
    ("POST", "/api/login/passkey"): "mfa-stage",
    ("POST", "/api/step-up/totp"): "own",
    ("POST", "/api/step-up/recovery"): "own",
    ("POST", "/api/step-up/passkey/options"): "own",
    ("POST", "/api/step-up/passkey"): "own",
    ("POST", "/api/logout"): "last",
    ("POST", "/api/logout-everywhere"): "last",
    ("POST", "/api/enrollment/inspect"): "link",
    ("POST", "/api/enrollment"): "link",
    ("GET", "/api/factors"): "list",
    ("POST", "/api/factors/totp"): "own",
    ("POST", "/api/factors/totp/confirm"): "own",
    ("DELETE", "/api/factors/totp"): "own",
    ("POST", "/api/factors/passkeys/options"): "own",
    ("POST", "/api/factors/passkeys"): "own",
    ("DELETE", "/api/factors/passkeys/{passkey_id}"): "object",
    ("POST", "/api/factors/recovery-codes"): "own",
    ("GET", "/api/account/sessions"): "list",
    ("DELETE", "/api/account/sessions/{session_id}"): "object",
    ("POST", "/api/account/password"): "own",
    ("GET", "/api/admin/users"): "list",
    ("POST", "/api/admin/users"): "own",
    ("PATCH", "/api/admin/users/{user_id}"): "object",
    ("POST", "/api/admin/users/{user_id}/reset-factors"): "object",
    ("GET", "/api/admin/hosts"): "list",
    ("POST", "/api/admin/enrollment-codes"): "own",
    ("POST", "/api/admin/hosts/{host_id}/revoke"): "object",
    ("POST", "/api/agent-enrollment"): "link",
    ("GET", "/api/admin/audit"): "list",
    ("GET", "/api/admin/settings"): "list",
    ("PUT", "/api/admin/settings"): "own",
    ("GET", "/api/admin/settings/source-networks"): "list",
    ("PUT", "/api/admin/settings/source-networks"): "own",
    ("GET", "/api/admin/report"): "list",
    ("GET", "/api/admin/dashboard"): "list",
    ("POST", "/api/admin/live-sessions/{live_id}/end"): "object",
    ("GET", "/api/admin/report/download"): "list",
    ("POST", "/api/admin/report/review"): "own",
    ("GET", "/api/admin/alerts"): "list",
    ("POST", "/api/admin/alerts/{alert_id}/acknowledge"): "object",
    ("POST", "/api/admin/alerts/acknowledge-all"): "own",
    ("GET", "/api/admin/alerts/settings"): "list",
    ("PUT", "/api/admin/alerts/settings"): "own",
    ("POST", "/api/admin/alerts/settings/webhook-secret"): "own",
    ("POST", "/api/admin/alerts/test"): "own",
    ("GET", "/api/admin/audit/search"): "list",
    ("GET", "/api/admin/audit/kinds"): "list",
    ("GET", "/api/admin/audit/export"): "list",
    ("GET", "/api/admin/audit/chain"): "list",
    ("GET", "/api/hosts"): "list",
    ("POST", "/api/viewer-tickets"): "ticket",
    ("POST", "/api/viewer-events"): "own",
    ("GET", "/api/admin/grants"): "list",
    ("POST", "/api/admin/grants"): "object",
    ("PUT", "/api/admin/grants/{grant_id}"): "object",
    ("DELETE", "/api/admin/grants/{grant_id}"): "object",
    ("GET", "/api/admin/time-zone"): "list",
    ("PUT", "/api/admin/time-zone"): "own",
    ("POST", "/api/vendor-requests"): "own",
    ("GET", "/api/admin/vendor-requests"): "list",
    ("POST", "/api/admin/vendor-requests/{request_id}/approve"): "object",
    ("POST", "/api/admin/vendor-requests/{request_id}/deny"): "object",
    ("GET", "/api/devices"): "list",
    ("POST", "/api/devices"): "own",
    ("POST", "/api/viewer-challenges"): "object",
    ("GET", "/api/admin/devices"): "list",
    ("POST", "/api/admin/devices/{device_id}/approve"): "object",
    ("POST", "/api/admin/devices/{device_id}/deny"): "object",
    ("POST", "/api/admin/devices/{device_id}/revoke"): "object",
}

BODIES: dict[tuple[str, str], object] = {
    ("POST", "/api/login"): {"username": "", "password": "Wrong#password1"},
    ("POST", "/api/enrollment/inspect"): {"token": "x" * 43},
    ("POST", "/api/enrollment"): {"token": "x" * 43, "password": "Hinode#Clinic7"},
    ("POST", "/api/factors/totp/confirm"): {"code": "123456"},
    ("POST", "/api/factors/passkeys"): {"credential": {"id": "x"}, "name": "x"},
    ("POST", "/api/account/password"): {"current_password": "x", "new_password": "y"},
    ("POST", "/api/admin/users"): {
        "username": "a-new-clerk",
        "display_name": "新",
        "role": "staff",
    },
    ("PATCH", "/api/admin/users/{user_id}"): {"role": "vendor", "disabled": True},
    ("PUT", "/api/admin/settings"): {"idle_s": 300},
    ("PUT", "/api/admin/settings/source-networks"): {"vendor": ["198.51.100.0/24"]},
    ("POST", "/api/admin/enrollment-codes"): {"host_id": "a-new-pc", "name": "新しいPC"},
    ("POST", "/api/agent-enrollment"): {
        "code": "1-" + "-".join(["AAAA"] * 8),
        "host_id": B_HOST,
        "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    },
    ("POST", "/api/viewer-events"): {"kind": "paste_blocked", "host_id": B_HOST},
    ("PUT", "/api/admin/grants/{grant_id}"): {"role": "staff", "access": "view"},
    ("PUT", "/api/admin/time-zone"): {"time_zone": "Asia/Tokyo"},
    ("POST", "/api/vendor-requests"): {"host_id": B_HOST, "reason": "B の保守"},
}


async def test_the_walk_covers_every_route(any_broker: RunningBroker) -> None:
    """The walk table names exactly the routes the OpenAPI schema lists."""
    async with any_broker.http() as http:
        schema = (await http.get("/openapi.json")).json()
    routes = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert routes == set(WALK)


async def test_admin_of_clinic_a_gets_nothing_of_clinic_b(
    any_broker: RunningBroker, tmp_path: Path
) -> None:
    """Every route, called by A's admin with B's ids, names and host, answers 404 or
    shows only A's own data; B's people, sessions, passkeys, host and certificate are
    untouched."""
    broker = any_broker
    clinic_a, clinic_b = await make_org(broker, "A医院"), await make_org(broker, "B医院")
    admin_a = await make_person(broker, clinic_a, "admin", "admin-a")
    doctor_b = await make_person(broker, clinic_b, "doctor", "doctor-b")
    now = broker.clock.now()
    async with broker.db.session() as s:
        passkey_b = await mfa.add_passkey(s, doctor_b.user_id, b"b-cred", b"b-key", 0, "B鍵", now)
        s.add(
            AlertSettings(org_id=clinic_b.id, webhook_url="https://b-hook.example/", updated_at=now)
        )
        alert_b = await alerts.raise_alert(
            s, clinic_b.id, alerts.Kind.LOCKOUT, now, subject="doctor-b", user="doctor-b"
        )
        await s.commit()
    b_agent = await enroll_agent(broker, clinic_b, B_HOST, tmp_path / "b-agent", "B受付")

    async with (
        broker.http() as http_a,
        broker.http() as http_b,
        connect(f"{broker.agent_wss_url}/ws/agent", ssl=b_agent.ssl_context()) as agent_b,
    ):
        await agent_b.send(protocol.encode(protocol.AgentHello(B_HOST, "B受付", "0.1.0")))
        b = await sign_in_client(broker, http_b, doctor_b)
        b_session_id = (await http_b.get("/api/account/sessions")).json()[0]["id"]
        assert [h["host_id"] for h in (await http_b.get("/api/hosts")).json()["hosts"]] == [B_HOST]
        device_b = DeviceKey()
        assert (await register(b, device_b, "B端末")).status_code == 201
        assert device_b.device_id is not None
        await approve_as_admin(broker, clinic_b.id, device_b.device_id)
        grant_b, request_b = await vendor_request_of(broker, clinic_b, B_HOST)
        a = await sign_in_client(broker, http_a, admin_a)
        ids = {
            "{user_id}": str(doctor_b.user_id),
            "{passkey_id}": str(passkey_b.id),
            "{session_id}": str(b_session_id),
            "{live_id}": "no-such-live-session-0123",
            "{alert_id}": str(alert_b.id),
            "{host_id}": B_HOST,
            "{grant_id}": str(grant_b),
            "{request_id}": str(request_b),
            "{device_id}": str(device_b.device_id),
        }
        b_markers = ["doctor-b", "B医院", B_HOST, "B受付", "B鍵", "b-hook", "vendor-b", "B の保守"]
        b_markers += ["B端末", device_b.fingerprint]
        BODIES[("POST", "/api/login")] = {"username": "doctor-b", "password": "Wrong#password1"}
        # A grant naming B's doctor is refused like one naming nobody.
        BODIES[("POST", "/api/admin/grants")] = {"user_id": doctor_b.user_id, "access": "control"}
        BODIES[("POST", "/api/devices")] = {"label": "A端末", "public_key": DeviceKey().jwk}
        # Up to B's (newer) alert: A's own are marked, B's must stay unacknowledged.
        BODIES[("POST", "/api/admin/alerts/acknowledge-all")] = {"up_to_id": alert_b.id}
        # B's device named by its fingerprint, from A's session: unknown, like a missing one.
        b_proof = {"host_id": B_HOST, "device": device_b.fingerprint}
        BODIES[("POST", "/api/viewer-challenges")] = b_proof
        BODIES[("POST", "/api/viewer-tickets")] = {
            **b_proof,
            "challenge": "A" * 43,
            "signature": device_b.sign(B_HOST, "A" * 43),
        }

        last = []
        for (method, path), kind in WALK.items():
            if kind == "last":
                last.append((method, path))
                continue
            url = path
            for placeholder, value in ids.items():
                url = url.replace(placeholder, value)
            response = await http_a.request(
                method, url, headers=a.headers, json=BODIES.get((method, path), {})
            )
            text = response.text
            where = f"{method} {path} -> {response.status_code} {text[:200]}"
            assert response.status_code < 500, where
            assert not any(marker in text for marker in b_markers), where
            if kind == "object":
                assert response.status_code == 404, where
            elif kind == "list":
                assert response.status_code == 200, where
            elif kind in {"login", "mfa-stage", "link"}:
                assert response.status_code in {401, 403, 404}, where
            elif kind == "ticket":
                # B's device cannot earn A a ticket; A's own approved device can, for B's
                # host id, and the relay then finds no such host for A.
                assert response.status_code == 404, where
                assert response.json()["error"] == "device_unknown", where
                await viewer_is_refused(broker, a.cookie_header(), await a.ticket(B_HOST))
        # A signs out everywhere: that is A's sessions only; then plain logout has none left.
        statuses = []
        for method, path in sorted(last, reverse=True):
            response = await http_a.request(method, path, headers=a.headers, json={})
            statuses.append((path, response.status_code))
        assert statuses == [("/api/logout-everywhere", 200), ("/api/logout", 401)]

        # B's world is as it was.
        assert (await http_b.get("/api/hosts")).status_code == 200
        me = (await http_b.get("/api/session")).json()["user"]
        assert me["role"] == "doctor"
        factors = (await http_b.get("/api/factors")).json()
        assert [k["name"] for k in factors["passkeys"]] == ["B鍵"]
        assert factors["totp"] is True
        assert (await http_b.get("/api/admin/audit")).status_code == 403  # B's doctor
        b_serial = f"{b_agent.certificate().serial_number:x}"
        async with broker.db.session() as s:
            still = await alerts.in_org(s, clinic_b.id, alert_b.id)
            assert still is not None
            assert still.acknowledged_at is None
            authority = broker.app.state.agent_authority
            assert await authority.problem(s, clinic_b.id, b_serial, broker.clock.now()) is None
            grant = await s.get(Grant, grant_b)
            vendor_request = await s.get(VendorRequest, request_b)
            assert grant is not None
            assert grant.revoked_at is None
            assert grant.role == "vendor"
            assert vendor_request is not None
            assert vendor_request.state == "pending"
            organization_b = await s.get(Organization, clinic_b.id)
            assert organization_b is not None
            assert organization_b.time_zone == "Asia/Tokyo"
            assert await source_networks.lists_of(s, clinic_b.id) == {
                "everyone": [],
                "admin": [],
                "vendor": [],
            }
        assert [h["host_id"] for h in (await http_b.get("/api/hosts")).json()["hosts"]] == [B_HOST]
        assert b.person.username == "doctor-b"
        assert [d["state"] for d in (await http_b.get("/api/devices")).json()["devices"]] == [
            "approved"
        ]


async def vendor_request_of(broker: RunningBroker, clinic: Org, host_id: str) -> tuple[int, int]:
    """A vendor of ``clinic`` with a grant for every host and a pending request for
    ``host_id``: the ids of that grant and request."""
    vendor = await make_person(broker, clinic, "vendor", "vendor-b")
    now = broker.clock.now()
    async with broker.db.session() as s:
        host = await s.scalar(select(Host).where(Host.org_id == clinic.id, Host.host_id == host_id))
        assert host is not None
        grant = await grants.create(
            s,
            clinic.id,
            user_id=None,
            role="vendor",
            host_ref=None,
            access=grants.Access.CONTROL,
            windows=(),
            created_by=None,
            now=now,
        )
        request = await vendor_requests.create(
            s, clinic.id, vendor.user_id, host.id, "B の保守", now
        )
        await s.commit()
        return grant.id, request.id


async def viewer_is_refused(broker: RunningBroker, cookie: str, ticket: str) -> None:
    """A's viewer, with a good ticket, joining B's host gets unknown_host (4404)."""
    async with connect(
        f"{broker.wss_url}/ws/viewer?ticket={ticket}",
        ssl=broker.client_ssl(),
        additional_headers={"Cookie": cookie},
        origin=broker.origin,  # type: ignore[arg-type]
    ) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(B_HOST)))
        error = protocol.parse(await viewer.recv(), Direction.BROKER_TO_VIEWER)
        assert isinstance(error, protocol.Error)
        assert error.code == "unknown_host"
        with pytest.raises(ConnectionClosed):
            await viewer.recv()
        assert viewer.close_code == CloseCode.UNKNOWN_HOST

"""Accounts: the first admin from the CLI, invitations, enrollment with TOTP and recovery
codes, role changes, disabling, factor resets, agent tokens, and the audit trail."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from broker.db.models import AuditEvent
from broker.identity import totp
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, SignedIn, anonymous_csrf, password_step, sign_in_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GOOD_PASSWORD = "Hinode#Clinic7"


def token_of(url: str) -> str:
    assert "/#/enroll/" in url
    return url.rsplit("/", 1)[1]


async def enroll_with_totp(
    broker: RunningBroker, http: httpx.AsyncClient, token: str, password: str = GOOD_PASSWORD
) -> tuple[SignedIn, str, list[str]]:
    """Walk a link as the web client does: inspect, set password, TOTP, confirm."""
    csrf = await anonymous_csrf(http)
    info = await http.post(
        "/api/enrollment/inspect", json={"token": token}, headers={"X-CSRF-Token": csrf}
    )
    assert info.status_code == 200, info.text
    started = await http.post(
        "/api/enrollment",
        json={"token": token, "password": password},
        headers={"X-CSRF-Token": csrf},
    )
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "enroll"
    headers = {"X-CSRF-Token": started.json()["csrf_token"]}
    assert (await http.get("/api/hosts")).json()["error"] == "enrollment_required"
    material = (await http.post("/api/factors/totp", headers=headers)).json()
    assert material["qr_svg"].startswith("data:image/svg+xml;base64,")
    assert material["otpauth_uri"].startswith("otpauth://totp/")
    secret = material["secret"]
    code = totp.code_at_step(secret, totp.step_at(broker.clock.now()))
    done = await http.post("/api/factors/totp/confirm", json={"code": code}, headers=headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "active"
    person = Person(
        0, 0, info.json()["username"], password, secret, "", {totp.step_at(broker.clock.now())}
    )
    return SignedIn(http, body["csrf_token"], person), secret, body["recovery_codes"]


async def test_first_admin_cli_link_enrolls_an_admin(
    any_broker: RunningBroker, tmp_path: Path
) -> None:
    """`python -m broker create-admin` prints a one-time link on its own line; opening it,
    setting a password and a TOTP gives an active admin with ten recovery codes."""
    settings = any_broker.settings
    env = {
        **os.environ,
        "MAMORI_SECRET_KEY": settings.secret_key,
        "MAMORI_TLS_CERT": str(settings.tls_cert),
        "MAMORI_TLS_KEY": str(settings.tls_key),
        "MAMORI_DATABASE_URL": settings.database_url,
        "MAMORI_PUBLIC_URL": any_broker.public_origin,
    }
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "broker", "create-admin", "--org", "みどり医院"],
        *["--username", "director", "--display-name", "院長"],
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()
    links = [line for line in stdout.decode().splitlines() if line.startswith("https://")]
    assert len(links) == 1
    assert links[0].startswith(f"{any_broker.public_origin}/#/enroll/")
    async with any_broker.http() as http:
        _, _, codes = await enroll_with_totp(any_broker, http, token_of(links[0]))
        assert len(codes) == 10
        me = (await http.get("/api/session")).json()["user"]
        assert (me["role"], me["organization"]) == ("admin", "みどり医院")
        assert (await http.get("/api/admin/users")).status_code == 200
    async with any_broker.http() as http:  # the link was spent
        csrf = await anonymous_csrf(http)
        again = await http.post(
            "/api/enrollment/inspect",
            json={"token": token_of(links[0])},
            headers={"X-CSRF-Token": csrf},
        )
        assert again.status_code == 404


async def test_invite_enroll_and_sign_in(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """An admin invites a clerk; the clerk enrolls through the link and signs in later with
    password and TOTP; the invitation and the enrollment are audited."""
    async with any_broker.http() as http:
        boss = await sign_in_client(any_broker, http, admin)
        invited = await boss.post(
            "/api/admin/users", json={"username": "Yamada", "display_name": "山田", "role": "staff"}
        )
        assert invited.status_code == 201, invited.text
        assert invited.json()["user"]["username"] == "yamada"
        assert invited.json()["user"]["enrolled"] is False
        link = invited.json()["enrollment_url"]
        duplicate = await boss.post(
            "/api/admin/users", json={"username": "yamada", "display_name": "x", "role": "staff"}
        )
        assert duplicate.status_code == 409
    async with any_broker.http() as http:
        clerk, _, _ = await enroll_with_totp(any_broker, http, token_of(link))
        assert (await http.get("/api/hosts")).status_code == 200
        assert (await http.get("/api/admin/users")).status_code == 403
    async with any_broker.http() as http:
        await sign_in_client(any_broker, http, clerk.person)
    async with any_broker.db.session() as s:
        log = [(e.event, e.actor) for e in await s.scalars(select(AuditEvent))]
    assert ("invite", admin.username) in log
    assert ("mfa_enrolled", "yamada") in log
    assert ("enrollment_started", "yamada") in log


@pytest.mark.parametrize(
    ("password", "error"),
    [
        ("short#1", "password_too_short"),
        ("Password123!", "password_common"),
        ("yamada-Clinic#1", "password_username"),
    ],
)
async def test_enrollment_enforces_the_password_policy(
    any_broker: RunningBroker, admin: Person, password: str, error: str
) -> None:
    """A weak password is refused with its reason and the link stays usable."""
    async with any_broker.http() as http:
        boss = await sign_in_client(any_broker, http, admin)
        link = (
            await boss.post(
                "/api/admin/users",
                json={"username": "yamada", "display_name": "山田", "role": "staff"},
            )
        ).json()["enrollment_url"]
    async with any_broker.http() as http:
        csrf = await anonymous_csrf(http)
        refused = await http.post(
            "/api/enrollment", json={"token": token_of(link), "password": password},
            headers={"X-CSRF-Token": csrf},
        )  # fmt: skip
        assert refused.status_code == 400
        assert refused.json()["error"] == error
        await enroll_with_totp(any_broker, http, token_of(link))


async def test_links_expire_after_24_hours(any_broker: RunningBroker, admin: Person) -> None:
    """An invitation link older than 24 h is refused."""
    async with any_broker.http() as http:
        boss = await sign_in_client(any_broker, http, admin)
        link = (
            await boss.post(
                "/api/admin/users",
                json={"username": "late", "display_name": "遅", "role": "doctor"},
            )
        ).json()["enrollment_url"]
    any_broker.clock.advance(24 * 3600 + 1)
    async with any_broker.http() as http:
        csrf = await anonymous_csrf(http)
        response = await http.post(
            "/api/enrollment/inspect",
            json={"token": token_of(link)},
            headers={"X-CSRF-Token": csrf},
        )
    assert response.status_code == 404


async def test_password_change_refuses_the_last_five(
    any_broker: RunningBroker, person: Person
) -> None:
    """Changing to one of the last five passwords is refused; a new one works."""
    async with any_broker.http() as http:
        user = await sign_in_client(any_broker, http, person)
        current = person.password
        for i in range(5):
            new = f"Rotation#{i}x{i}"
            ok = await user.post(
                "/api/account/password", json={"current_password": current, "new_password": new}
            )
            assert ok.status_code == 200, ok.text
            current = new
        reused = await user.post(
            "/api/account/password",
            json={"current_password": current, "new_password": "Rotation#1x1"},
        )
        assert reused.json()["error"] == "password_reused"
        sixth_back = await user.post(
            "/api/account/password",
            json={"current_password": current, "new_password": person.password},
        )
        assert sixth_back.status_code == 200


async def test_role_change_disable_and_last_admin(
    any_broker: RunningBroker, admin: Person, person: Person
) -> None:
    """Admins change roles and disable users (their sessions end); the last enabled admin
    can neither be demoted nor disabled."""
    async with any_broker.http() as http, any_broker.http() as doctor_http:
        boss = await sign_in_client(any_broker, http, admin)
        await sign_in_client(any_broker, doctor_http, person)
        changed = await http.patch(
            f"/api/admin/users/{person.user_id}", json={"role": "vendor"}, headers=boss.headers
        )
        assert changed.json()["role"] == "vendor"
        assert (await doctor_http.get("/api/hosts")).status_code == 401  # session ended
        disabled = await http.patch(
            f"/api/admin/users/{person.user_id}", json={"disabled": True}, headers=boss.headers
        )
        assert disabled.json()["disabled"] is True
        assert (
            await password_step(doctor_http, person.username, person.password)
        ).status_code == 401
        last = await http.patch(
            f"/api/admin/users/{admin.user_id}", json={"role": "doctor"}, headers=boss.headers
        )
        assert last.status_code == 409
        assert last.json()["error"] == "last_admin"
        bad = await http.patch(
            f"/api/admin/users/{person.user_id}", json={"role": "root"}, headers=boss.headers
        )
        assert bad.status_code == 400
        audit = (await http.get("/api/admin/audit")).json()
    assert {"role_change", "disable"} <= {e["event"] for e in audit}


async def test_reset_factors_issues_a_new_link(
    any_broker: RunningBroker, admin: Person, person: Person
) -> None:
    """Resetting a user's factors removes them and their sessions; the new link re-enrolls."""
    async with any_broker.http() as http:
        boss = await sign_in_client(any_broker, http, admin)
        reset = await boss.post(f"/api/admin/users/{person.user_id}/reset-factors")
        assert reset.status_code == 200
        assert reset.json()["user"]["totp"] is False
        link = reset.json()["enrollment_url"]
    async with any_broker.http() as http:
        refused = await password_step(http, person.username, person.password)
        assert refused.json()["error"] == "enrollment_required"
        await enroll_with_totp(any_broker, http, token_of(link), "Brand#New2026")


async def test_last_second_factor_cannot_be_removed(
    any_broker: RunningBroker, person: Person
) -> None:
    """MFA is mandatory: removing the only second factor is refused (409 last_factor)."""
    async with any_broker.http() as http:
        user = await sign_in_client(any_broker, http, person)
        factors = (await http.get("/api/factors")).json()
        assert factors["totp"] is True
        assert factors["recovery_codes_left"] == 10
        removed = await http.delete("/api/factors/totp", headers=user.headers)
    assert removed.status_code == 409
    assert removed.json()["error"] == "last_factor"

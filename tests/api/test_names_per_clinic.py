"""User names are unique per clinic (issue 12, security 7): "username_taken" once told one
clinic's admin which names another clinic used. Now another clinic's "tanaka" neither blocks
nor shows; two clinics' "tanaka" sign in by naming their clinic's code; a name that is
ambiguous without the code fails like any wrong sign-in (nothing revealed); each account's
lockout is its own. Real broker on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker.db.models import Organization
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_org, make_person, signed_in

pytestmark = pytest.mark.integration


async def code_of(broker: RunningBroker, org: Org) -> str:
    async with broker.db.session() as s:
        code = await s.scalar(select(Organization.code).where(Organization.id == org.id))
        assert code
        return code


async def login(
    broker: RunningBroker, person: Person, clinic: str | None, password: str | None = None
) -> tuple[int, str]:
    async with broker.http() as http:
        csrf = (await http.get("/api/session")).json()["csrf_token"]
        body = {"username": person.username, "password": password or person.password}
        if clinic is not None:
            body["clinic"] = clinic
        response = await http.post("/api/login", json=body, headers={"X-CSRF-Token": csrf})
        return response.status_code, response.json().get("error", response.json().get("state"))


async def test_another_clinics_name_neither_blocks_nor_shows(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    other = await make_org(any_broker, "となり医院")
    await make_person(any_broker, other, "doctor", "tanaka")
    invite = {"username": "tanaka", "display_name": "田中", "role": "doctor"}
    async with signed_in(any_broker, admin) as a:
        first = await a.post("/api/admin/users", json=invite)
        assert first.status_code == 201, first.text
        again = await a.post("/api/admin/users", json=invite)
        assert again.status_code == 409, again.text
        assert again.json()["error"] == "username_taken"
        names = [u["username"] for u in (await a.http.get("/api/admin/users")).json()]
        assert names.count("tanaka") == 1
        me = (await a.http.get("/api/session")).json()["user"]
        assert me["clinic_code"] == await code_of(any_broker, clinic)


async def test_same_name_in_two_clinics_signs_in_with_the_clinic_code(
    any_broker: RunningBroker, clinic: Org
) -> None:
    other = await make_org(any_broker, "となり医院")
    ours = await make_person(any_broker, clinic, "doctor", "tanaka")
    theirs = await make_person(any_broker, other, "doctor", "tanaka")
    unique = await make_person(any_broker, clinic, "staff", "only-here")
    code, other_code = await code_of(any_broker, clinic), await code_of(any_broker, other)
    assert code != other_code
    # Without a code the name is ambiguous: the generic failure, as for a wrong password.
    assert await login(any_broker, ours, None) == (401, "invalid_credentials")
    assert await login(any_broker, ours, code) == (200, "mfa")
    assert await login(any_broker, theirs, other_code.upper()) == (200, "mfa")
    # One clinic's password does not open the other's account of the same name.
    assert await login(any_broker, ours, other_code) == (401, "invalid_credentials")
    assert await login(any_broker, ours, "no-such-clinic") == (401, "invalid_credentials")
    # A name only one clinic uses needs no code.
    assert await login(any_broker, unique, None) == (200, "mfa")


async def test_lockout_is_per_clinic_account(any_broker: RunningBroker, clinic: Org) -> None:
    other = await make_org(any_broker, "となり医院")
    ours = await make_person(any_broker, clinic, "doctor", "tanaka")
    theirs = await make_person(any_broker, other, "doctor", "tanaka")
    code, other_code = await code_of(any_broker, clinic), await code_of(any_broker, other)
    async with any_broker.http() as http:
        answers = []
        for i in range(6):
            csrf = (await http.get("/api/session")).json()["csrf_token"]
            response = await http.post(
                "/api/login",
                json={"username": "tanaka", "password": f"Wrong#pass{i}", "clinic": code},
                headers={"X-CSRF-Token": csrf, "X-Forwarded-For": f"198.51.100.{i}"},
            )
            answers.append((response.status_code, response.json()["error"]))
        assert answers == [(401, "invalid_credentials")] * 5 + [(429, "locked")], answers
        # Even the right password, with the code, from elsewhere: the account is locked.
        csrf = (await http.get("/api/session")).json()["csrf_token"]
        locked = await http.post(
            "/api/login",
            json={"username": "tanaka", "password": ours.password, "clinic": code},
            headers={"X-CSRF-Token": csrf, "X-Forwarded-For": "198.51.100.50"},
        )
        assert (locked.status_code, locked.json()["error"]) == (429, "locked")
    # The other clinic's tanaka is not locked by it.
    assert await login(any_broker, theirs, other_code) == (200, "mfa")

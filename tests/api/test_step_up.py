"""Step-up before factor and password changes (issue 12, security 3): a session cookie alone
cannot take over an account's factors; a wrong current password counts like a failed
sign-in (no password oracle) and the lock ends the session; the clinic is told of every
change. Real broker on SQLite and PostgreSQL; the broker's clock moved by setting."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from broker.db.models import Alert, AuditEvent
from broker.identity import passwords
from devkit.broker import RunningBroker
from devkit.identity import Person, SignedIn, password_step, signed_in

pytestmark = pytest.mark.integration

STEP_UP_S = 300  # the default MAMORI_STEP_UP_S

CHANGES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/factors/totp", None),
    ("POST", "/api/factors/totp/confirm", {"code": "123456"}),
    ("DELETE", "/api/factors/totp", None),
    ("POST", "/api/factors/passkeys/options", None),
    ("POST", "/api/factors/passkeys", {"credential": {}}),
    ("DELETE", "/api/factors/passkeys/1", None),
    ("POST", "/api/factors/recovery-codes", None),
    ("POST", "/api/account/password", {"current_password": "x", "new_password": "y"}),
]


async def send(user: SignedIn, method: str, url: str, body: dict[str, Any] | None) -> Any:
    return await user.http.request(method, url, json=body, headers=user.headers)


async def audit(broker: RunningBroker, event: str) -> list[tuple[str, str]]:
    async with broker.db.session() as s:
        rows = await s.scalars(select(AuditEvent).where(AuditEvent.event == event))
        return [(r.outcome, r.detail) for r in rows]


async def alerts(broker: RunningBroker, kind: str) -> list[dict[str, Any]]:
    async with broker.db.session() as s:
        rows = await s.scalars(select(Alert).where(Alert.kind == kind))
        return [dict(r.facts) for r in rows]


async def test_every_factor_or_password_change_needs_a_recent_second_factor(
    any_broker: RunningBroker, person: Person
) -> None:
    """Past the step-up time, each change is refused with step_up_required (nothing
    changed: the recovery codes still work); a TOTP code at /api/step-up opens them again,
    and the change is audited and alerted to the clinic."""
    async with signed_in(any_broker, person) as user:
        any_broker.clock.advance(STEP_UP_S + 1)
        for method, url, body in CHANGES:
            refused = await send(user, method, url, body)
            assert refused.status_code == 403, (url, refused.text)
            assert refused.json()["error"] == "step_up_required", url
        assert await alerts(any_broker, "factors_changed") == []
        stepped = await user.post("/api/step-up/totp", json={"code": person.next_code(any_broker)})
        assert stepped.status_code == 200, stepped.text
        renewed = await user.post("/api/factors/recovery-codes")
        assert renewed.status_code == 200, renewed.text
        assert len(renewed.json()["recovery_codes"]) == 10
        any_broker.clock.advance(STEP_UP_S + 1)
        again = await user.post("/api/factors/recovery-codes")
        assert again.json()["error"] == "step_up_required"
    assert ("success", "totp") in await audit(any_broker, "step_up")
    (alert,) = await alerts(any_broker, "factors_changed")
    assert alert["change"] == "recovery_codes"
    assert alert["username"] == person.username


async def test_wrong_current_passwords_are_counted_and_lock_out_the_session(
    any_broker: RunningBroker, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 concurrent password changes with wrong current passwords: at most 5 are checked
    (the sign-in lockout's attempts), the account locks, the session ends, and the right
    password is refused at sign-in until the lock ends."""
    evaluated: list[int] = []
    original = passwords.verify_password_async

    async def counted(*args: Any) -> bool:
        evaluated.append(1)
        return await original(*args)

    async with signed_in(any_broker, person) as user:
        monkeypatch.setattr(passwords, "verify_password_async", counted)

        async def guess(i: int) -> tuple[int, str]:
            response = await user.post(
                "/api/account/password",
                json={"current_password": f"Guess#{i}-x", "new_password": "Kanja-new-pass-9!"},
            )
            return response.status_code, response.json()["error"]

        answers = Counter(await asyncio.gather(*(guess(i) for i in range(40))))
        state = await user.http.get("/api/session")
        monkeypatch.setattr(passwords, "verify_password_async", original)
    assert len(evaluated) <= 5, f"{len(evaluated)} current passwords checked"
    assert answers[(400, "wrong_password")] + answers[(401, "locked")] == len(evaluated), answers
    assert answers[(401, "locked")] == 1, answers
    assert state.json()["state"] == "anonymous"
    async with any_broker.http() as http:
        refused = await password_step(http, person.username, person.password, "192.0.2.9")
    assert refused.status_code == 429
    assert ("failure", "wrong_password") in await audit(any_broker, "password_changed")


async def test_wrong_step_up_codes_lock_and_end_the_session(
    any_broker: RunningBroker, person: Person
) -> None:
    """Five wrong step-up codes lock the account and end the session that sent them."""
    async with signed_in(any_broker, person) as user:
        answers = []
        for code in ("000001", "000002", "000003", "000004", "000005"):
            answers.append((await user.post("/api/step-up/totp", json={"code": code})).status_code)
        state = await user.http.get("/api/session")
    assert answers == [400, 400, 400, 400, 401]
    assert state.json()["state"] == "anonymous"
    assert len(await audit(any_broker, "lockout")) == 1

"""Signing in: password then a second factor, generic failures, lockout, the MFA gate."""

from __future__ import annotations

import statistics
import time

import pytest
from sqlalchemy import select

from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.devices import approved_device, proof
from devkit.identity import Person, anonymous_csrf, password_step, sign_in_client

pytestmark = pytest.mark.integration


async def events(broker: RunningBroker) -> list[tuple[str, str, str]]:
    async with broker.db.session() as s:
        rows = await s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.event, e.outcome, e.actor) for e in rows]


async def test_password_then_totp_gives_an_active_session(
    any_broker: RunningBroker, person: Person
) -> None:
    """The password alone gives stage mfa; a TOTP code makes it active; both are audited."""
    async with any_broker.http() as http:
        first = await password_step(http, person.username, person.password)
        assert first.status_code == 200
        assert first.json()["state"] == "mfa"
        assert set(first.json()["methods"]) == {"totp", "recovery"}
        pre_mfa_cookie = http.cookies["__Host-mamori_session"]
        second = await http.post(
            "/api/login/totp",
            json={"code": person.next_code(any_broker)},
            headers={"X-CSRF-Token": first.json()["csrf_token"]},
        )
        assert second.status_code == 200
        assert second.json()["state"] == "active"
        assert http.cookies["__Host-mamori_session"] != pre_mfa_cookie
        assert (await http.get("/api/hosts")).status_code == 200
        state = (await http.get("/api/session")).json()
        assert state["user"]["username"] == person.username
        assert state["user"]["organization"] == "さくら診療所"
    assert ("login_password", "success", person.username) in await events(any_broker)
    assert ("login_mfa", "success", person.username) in await events(any_broker)


async def test_session_cookie_is_httponly_secure_strict(
    any_broker: RunningBroker, person: Person
) -> None:
    """The session cookie is HttpOnly, Secure, SameSite=Strict; the CSRF one is readable."""
    async with any_broker.http() as http:
        response = await password_step(http, person.username, person.password)
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-mamori_session="))
    csrf = next(c for c in cookies if c.startswith("__Host-mamori_csrf="))
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute in session
    # The __Host- prefix's terms: Secure, Path=/ and no Domain, on both cookies.
    for cookie in (session, csrf):
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "domain=" not in cookie.lower()
    assert "HttpOnly" not in csrf
    assert "Secure" in csrf


async def test_pre_mfa_token_is_dead_after_mfa(any_broker: RunningBroker, person: Person) -> None:
    """The token from the password step stops working once the second factor is shown."""
    async with any_broker.http() as http:
        first = await password_step(http, person.username, person.password)
        old = http.cookies["__Host-mamori_session"]
        await http.post(
            "/api/login/totp",
            json={"code": person.next_code(any_broker)},
            headers={"X-CSRF-Token": first.json()["csrf_token"]},
        )
    async with any_broker.http(cookies={"__Host-mamori_session": old}) as stale:
        assert (await stale.get("/api/session")).json()["state"] == "anonymous"


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    any_broker: RunningBroker, person: Person
) -> None:
    """Status, code and message do not tell an unknown name from a wrong password."""
    async with any_broker.http() as http:
        wrong = await password_step(http, person.username, "Wrong#password1")
        unknown = await password_step(http, "nobody-here", "Wrong#password1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_credentials"
    assert "__Host-mamori_session" not in wrong.headers.get("set-cookie", "")


async def test_unknown_user_costs_the_same_time_as_a_wrong_password(
    any_broker: RunningBroker, person: Person
) -> None:
    """A dummy argon2 verify runs for unknown names: median times stay within 2x."""

    async def timed(username: str, source: str) -> float:
        start = time.perf_counter()
        response = await password_step(http, username, "Wrong#password1", source)
        assert response.status_code == 401
        return time.perf_counter() - start

    async with any_broker.http() as http:
        known, unknown = [], []
        for i in range(4):  # 4 tries each: under the lockout threshold of 5
            known.append(await timed(person.username, f"198.51.100.{i}"))
            unknown.append(await timed(f"ghost-{i}", f"198.51.100.{100 + i}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, f"unknown/known time ratio {ratio:.2f}"


async def test_sixth_attempt_is_locked_even_with_the_right_password(
    any_broker: RunningBroker, person: Person
) -> None:
    """Five wrong passwords lock the account for 15 minutes: the sixth try, right or not,
    is refused (429, generic); after 15 minutes the right password works again."""
    async with any_broker.http() as http:
        for i in range(5):
            response = await password_step(
                http, person.username, f"Wrong#password{i}", f"203.0.113.{i}"
            )
            assert response.status_code == 401
        locked = await password_step(http, person.username, person.password, "203.0.113.50")
        assert locked.status_code == 429
        assert locked.json()["error"] == "locked"
        assert int(locked.headers["retry-after"]) > 800
        any_broker.clock.advance(15 * 60 + 1)
        again = await password_step(http, person.username, person.password, "203.0.113.51")
        assert again.status_code == 200
    log = await events(any_broker)
    assert ("lockout", "success", person.username) in log
    assert ("login_password", "denied", person.username) in log


async def test_unknown_names_lock_like_real_ones(any_broker: RunningBroker) -> None:
    """A lock does not reveal existence: an unknown name locks after five tries too."""
    async with any_broker.http() as http:
        for i in range(5):
            await password_step(http, "ghost", f"Wrong#password{i}", f"203.0.113.{i}")
        sixth = await password_step(http, "ghost", "Wrong#password9", "203.0.113.99")
    assert sixth.status_code == 429


async def test_one_source_address_is_locked_across_accounts(
    any_broker: RunningBroker, person: Person
) -> None:
    """Five failures from one address, each on a different name, lock that address for all
    names; another address is unaffected."""
    async with any_broker.http() as http:
        for i in range(5):
            await password_step(http, f"spray-{i}", "Winter#2024", "192.0.2.66")
        same_source = await password_step(http, person.username, person.password, "192.0.2.66")
        other_source = await password_step(http, person.username, person.password, "192.0.2.67")
    assert same_source.status_code == 429
    assert other_source.status_code == 200


async def test_replayed_totp_code_is_refused(any_broker: RunningBroker, person: Person) -> None:
    """A TOTP code that signed in once does not sign in again."""
    code = person.next_code(any_broker)
    results = []
    for _ in range(2):
        async with any_broker.http() as http:
            first = await password_step(http, person.username, person.password)
            second = await http.post(
                "/api/login/totp",
                json={"code": code},
                headers={"X-CSRF-Token": first.json()["csrf_token"]},
            )
            results.append((second.status_code, second.json().get("error")))
    assert results == [(200, None), (401, "mfa_failed")]


async def test_five_wrong_codes_lock_the_account(any_broker: RunningBroker, person: Person) -> None:
    """Guessing TOTP codes counts toward the lockout and ends the pending session."""
    async with any_broker.http() as http:
        first = await password_step(http, person.username, person.password)
        headers = {"X-CSRF-Token": first.json()["csrf_token"]}
        answers = []
        for guess in ("000000", "111111", "222222", "333333", "444444", "555555"):
            response = await http.post("/api/login/totp", json={"code": guess}, headers=headers)
            answers.append((response.status_code, response.json()))
    assert [status for status, _ in answers[:4]] == [401] * 4
    # The fifth wrong code locks, and says so at once with how long (issue 12).
    status, body = answers[4]
    assert (status, body["error"], body["retry_after_s"]) == (429, "locked", 15 * 60)
    assert answers[5][0] in (401, 429)
    async with any_broker.http() as http:
        locked = await password_step(http, person.username, person.password)
    assert locked.status_code == 429


async def test_recovery_code_signs_in_once(any_broker: RunningBroker, person: Person) -> None:
    """A recovery code replaces the second factor, once."""
    async with any_broker.http() as http:
        user = await sign_in_client(any_broker, http, person)
        codes = (await user.post("/api/factors/recovery-codes")).json()["recovery_codes"]
    outcomes = []
    for _ in range(2):
        async with any_broker.http() as http:
            first = await password_step(http, person.username, person.password)
            response = await http.post(
                "/api/login/recovery",
                json={"code": codes[0]},
                headers={"X-CSRF-Token": first.json()["csrf_token"]},
            )
            outcomes.append(response.status_code)
    assert outcomes == [200, 401]
    assert ("recovery_code_used", "success", person.username) in await events(any_broker)


async def test_password_alone_opens_nothing_but_the_mfa_routes(
    any_broker: RunningBroker, person: Person
) -> None:
    """With only the password, every route outside sign-in answers 401 mfa_required (or
    refuses the viewer upgrade)."""
    allowed = {
        ("GET", "/api/session"),
        ("POST", "/api/login"),
        ("POST", "/api/login/totp"),
        ("POST", "/api/login/recovery"),
        ("POST", "/api/login/passkey/options"),
        ("POST", "/api/login/passkey"),
        ("POST", "/api/logout"),
        ("POST", "/api/enrollment"),
        ("POST", "/api/enrollment/inspect"),
        # A clinic PC's enrollment: no session at all, the one-time code is the credential.
        ("POST", "/api/agent-enrollment"),
    }
    async with any_broker.http() as http:
        first = await password_step(http, person.username, person.password)
        headers = {"X-CSRF-Token": first.json()["csrf_token"]}
        schema = (await http.get("/openapi.json")).json()
        checked = 0
        for path, operations in schema["paths"].items():
            for method in operations:
                if (method.upper(), path) in allowed:
                    continue
                url = path.replace("{user_id}", "1").replace("{passkey_id}", "1")
                url = url.replace("{session_id}", "1")
                response = await http.request(method.upper(), url, headers=headers, json={})
                assert response.status_code == 401, f"{method} {path}: {response.status_code}"
                assert response.json()["error"] == "mfa_required", f"{method} {path}"
                checked += 1
    assert checked >= 15


async def test_state_changing_requests_need_the_csrf_token(
    any_broker: RunningBroker, person: Person
) -> None:
    """Without, or with a wrong, X-CSRF-Token a signed-in POST is refused (403 csrf);
    so is one from a foreign Origin; sign-in itself needs the pre-session token."""
    async with any_broker.http() as http:
        no_token = await http.post(
            "/api/login", json={"username": person.username, "password": person.password}
        )
        assert no_token.status_code == 403
        assert no_token.json()["error"] == "csrf"
        user = await sign_in_client(any_broker, http, person)
        body = await proof(user, await approved_device(any_broker, user), "clinic-pc-1")
        missing = await http.post("/api/viewer-tickets", json=body)
        wrong = await http.post(
            "/api/viewer-tickets", json=body, headers={"X-CSRF-Token": "x" * 64}
        )
        foreign = await http.post(
            "/api/viewer-tickets",
            json=body,
            headers={**user.headers, "Origin": "https://evil.example"},
        )
        right = await user.post("/api/viewer-tickets", json=body)
    assert [r.status_code for r in (missing, wrong, foreign)] == [403, 403, 403]
    assert right.status_code == 201


async def test_idle_and_absolute_timeouts_end_sessions(
    any_broker: RunningBroker, person: Person
) -> None:
    """15 minutes without a request end a session; so do 12 hours however busy it is;
    background polls do not count as activity."""
    async with any_broker.http() as http:
        await sign_in_client(any_broker, http, person)
        for _ in range(5):  # busy: a request every 10 minutes
            any_broker.clock.advance(10 * 60)
            assert (await http.get("/api/hosts")).status_code == 200
        any_broker.clock.advance(10 * 60)
        background = {"X-Mamori-Background": "1"}
        assert (await http.get("/api/hosts", headers=background)).status_code == 200
        any_broker.clock.advance(6 * 60)  # 16 min since the last real activity
        assert (await http.get("/api/hosts")).status_code == 401
    async with any_broker.http() as http:
        await sign_in_client(any_broker, http, person)
        for _ in range(26):  # active all day long: 26 × 28 min > 12 h
            any_broker.clock.advance(14 * 60)
            before_end = await http.get("/api/hosts")
            any_broker.clock.advance(14 * 60)
            await http.get("/api/hosts")
        assert before_end.status_code == 200
        assert (await http.get("/api/hosts")).status_code == 401


async def test_logout_and_logout_everywhere(any_broker: RunningBroker, person: Person) -> None:
    """Logout ends this session; 'log out everywhere' ends the user's other devices too."""
    async with any_broker.http() as laptop, any_broker.http() as tablet:
        on_laptop = await sign_in_client(any_broker, laptop, person)
        on_tablet = await sign_in_client(any_broker, tablet, person)
        sessions = (await laptop.get("/api/account/sessions")).json()
        assert len(sessions) == 2
        assert sum(s["current"] for s in sessions) == 1
        assert (await on_tablet.post("/api/logout")).status_code == 200
        assert (await tablet.get("/api/hosts")).status_code == 401
        assert (await laptop.get("/api/hosts")).status_code == 200
        on_tablet = await sign_in_client(any_broker, tablet, person)
        ended = await on_laptop.post("/api/logout-everywhere")
        assert ended.json() == {"ended": 2}
        assert (await laptop.get("/api/hosts")).status_code == 401
        assert (await tablet.get("/api/hosts")).status_code == 401
    log = [e for e, _, _ in await events(any_broker)]
    assert "logout" in log
    assert "logout_everywhere" in log


async def test_csrf_token_before_sign_in_is_a_cookie_pair(any_broker: RunningBroker) -> None:
    """The anonymous CSRF token is set as a cookie and returned; it is stable per browser."""
    async with any_broker.http() as http:
        first = await anonymous_csrf(http)
        second = await anonymous_csrf(http)
    assert first == second
    assert len(first) >= 32


async def test_disabled_user_cannot_sign_in(any_broker: RunningBroker, person: Person) -> None:
    """A disabled account gets the generic failure, even with the right password."""
    async with any_broker.db.session() as s:
        from broker.identity import accounts

        user = await accounts.find_user(s, person.username)
        assert user is not None
        user.disabled_at = any_broker.clock.now()
        await s.commit()
    async with any_broker.http() as http:
        response = await password_step(http, person.username, person.password)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"

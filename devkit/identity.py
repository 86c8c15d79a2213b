"""People and organizations for tests, and signing them in through the real HTTP API.

Organizations and accounts are written through the broker's own services (as the CLI and
the admin routes do); signing in always goes through ``/api/login`` and a real TOTP code.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pyotp
from websockets.asyncio.client import connect

from broker.db.models import TotpCredential, User
from broker.identity import accounts, mfa, totp
from broker.identity.accounts import Role
from devkit.broker import RunningBroker
from devkit.devices import DeviceKey, approved_device, proof


@dataclass
class Org:
    id: int
    name: str


@dataclass
class Person:
    user_id: int
    org_id: int
    username: str
    password: str
    totp_secret: str
    role: str
    used_steps: set[int] = field(default_factory=set)

    def next_code(self, broker: RunningBroker) -> str:
        """A code for an unused step within ±1 of the broker's now (advancing its clock
        only if every such step was used already).

        Never the step before now: a loaded machine may cross a step boundary between here
        and the broker's check, and the previous step would then be two steps old.
        """
        now_step = totp.step_at(broker.clock.now())
        step = max(now_step, max(self.used_steps, default=-1) + 1)
        if step > now_step + 1:
            broker.clock.advance(totp.STEP_S * (step - now_step - 1))
        self.used_steps.add(step)
        return totp.code_at_step(self.totp_secret, step)


async def make_org(broker: RunningBroker, name: str | None = None) -> Org:
    """An organization (hosts enroll into it with devkit.agent.enroll_agent)."""
    now = broker.clock.now()
    async with broker.db.session() as s:
        org = await accounts.create_org(s, name or f"clinic-{secrets.token_hex(3)}", now)
        await s.commit()
        return Org(org.id, org.name)


async def make_person(
    broker: RunningBroker, org: Org, role: str = "doctor", username: str | None = None
) -> Person:
    """An enrolled person: password set (through the policy) and a confirmed TOTP."""
    # Digits only after the word: the policy refuses a password holding any 4-letter run of
    # the name ("admin-3fabcde1" has "abcde"), and a hex password once did (a flaky test).
    password = f"Kanja-{secrets.randbelow(10**12):012d}!"
    return await _enrolled(broker, org, role, username, password, None)


async def make_people(
    broker: RunningBroker, org: Org, count: int, role: str = "doctor"
) -> list[Person]:
    """``count`` enrolled people sharing one password, hashed once: argon2id takes ~0.13 s
    of this machine a hash, and the benchmark needs hundreds of people (a TOTP step is
    single-use, so each signs in once)."""
    first = await make_person(broker, org, role)
    async with broker.db.session() as s:
        hashed = (await s.get_one(User, first.user_id)).password_hash
    if hashed is None:
        raise RuntimeError("the first person has no password hash")
    people = [first]
    for _ in range(count - 1):
        people.append(await _enrolled(broker, org, role, None, first.password, hashed))
    return people


async def _enrolled(
    broker: RunningBroker,
    org: Org,
    role: str,
    username: str | None,
    password: str,
    hashed: str | None,
) -> Person:
    """A person with ``password`` (``hashed`` already: stored as it is, no policy), a
    confirmed TOTP and recovery codes."""
    now = broker.clock.now()
    username = username or f"{role}-{secrets.token_hex(4)}"
    secret = pyotp.random_base32(32)
    async with broker.db.session() as s:
        user = await accounts.create_user(s, org.id, username, username.title(), Role(role), now)
        if hashed is None:
            await accounts.set_password(s, user, password, now)
        else:
            user.password_hash = hashed
        box = broker.app.state.keys.totp_box
        s.add(
            TotpCredential(
                user_id=user.id,
                secret_sealed=box.seal(secret.encode(), f"totp:{user.id}"),
                created_at=now,
                confirmed_at=now,
                last_step=-1,
            )
        )
        await mfa.issue_recovery_codes(s, user.id, now)
        await s.commit()
        return Person(user.id, org.id, username, password, secret, role)


@dataclass
class SignedIn:
    """A signed-in HTTP client: cookies in its jar, the CSRF token to echo, and (once a
    ticket was asked for) its approved viewing device."""

    http: httpx.AsyncClient
    csrf: str
    person: Person
    broker: RunningBroker | None = None
    device: DeviceKey | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    async def post(self, url: str, **kwargs: object) -> httpx.Response:
        return await self.http.post(url, headers=self.headers, **kwargs)  # type: ignore[arg-type]

    async def ticket_response(self, host_id: str) -> httpx.Response:
        """Ask for a viewer ticket the way a browser does: its approved device (made,
        registered and approved by an admin on first use) signs a fresh challenge for
        ``host_id``; the broker's answer as it came (the grant may still refuse)."""
        if self.device is None:
            if self.broker is None:
                raise AssertionError("a device needs the broker: sign in with sign_in_client")
            self.device = await approved_device(self.broker, self)
        body = await proof(self, self.device, host_id)
        return await self.post("/api/viewer-tickets", json=body)

    async def ticket(self, host_id: str) -> str:
        """A viewer ticket (``ticket_response``); raises unless one was issued."""
        response = await self.ticket_response(host_id)
        if response.status_code != 201:
            raise AssertionError(f"no ticket: {response.status_code} {response.text}")
        ticket: str = response.json()["ticket"]
        return ticket


async def anonymous_csrf(http: httpx.AsyncClient) -> str:
    """The double-submit token a page gets before sign-in (cookie set in the jar too)."""
    response = await http.get("/api/session")
    token: str = response.json()["csrf_token"]
    return token


async def password_step(
    http: httpx.AsyncClient, username: str, password: str, source: str | None = None
) -> httpx.Response:
    csrf = await anonymous_csrf(http)
    headers = {"X-CSRF-Token": csrf}
    if source:
        headers["X-Forwarded-For"] = source
    return await http.post(
        "/api/login", json={"username": username, "password": password}, headers=headers
    )


async def sign_in_client(
    broker: RunningBroker, http: httpx.AsyncClient, person: Person, source: str | None = None
) -> SignedIn:
    """Password, then TOTP, through the API; raises unless both succeed. ``source``: the
    address a proxy in front names (X-Forwarded-For; the broker believes 127.0.0.1's)."""
    first = await password_step(http, person.username, person.password, source)
    if first.status_code != 200:
        raise AssertionError(f"password step: {first.status_code} {first.text}")
    second = await http.post(
        "/api/login/totp",
        json={"code": person.next_code(broker)},
        headers={"X-CSRF-Token": first.json()["csrf_token"]},
    )
    if second.status_code != 200 or second.json()["state"] != "active":
        raise AssertionError(f"TOTP step: {second.status_code} {second.text}")
    return SignedIn(http, second.json()["csrf_token"], person, broker)


@contextlib.asynccontextmanager
async def signed_in(broker: RunningBroker, person: Person) -> AsyncIterator[SignedIn]:
    async with broker.http() as http:
        yield await sign_in_client(broker, http, person)


def open_viewer(broker: RunningBroker, user: SignedIn, ticket: str) -> connect:
    """``/ws/viewer`` opened as the viewer page opens it: the ticket, the browser session's
    cookie and the page's Origin."""
    return connect(
        f"{broker.wss_url}/ws/viewer?ticket={ticket}",
        ssl=broker.client_ssl(),
        additional_headers={"Cookie": user.cookie_header()},
        origin=broker.origin,  # type: ignore[arg-type]
    )

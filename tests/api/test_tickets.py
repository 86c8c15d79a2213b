"""The viewer WebSocket: an active session plus a single-use ticket valid 30 s, checked
before the upgrade (refusal = HTTP 403)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import mamori_protocol as protocol
from broker.turn.credentials import password_for
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, SignedIn, make_person, password_step, signed_in
from mamori_protocol import CloseCode, Direction

pytestmark = pytest.mark.integration

HOST = "clinic-pc-1"


def open_viewer(broker: RunningBroker, cookie: str, ticket: str | None) -> connect:
    query = f"?ticket={ticket}" if ticket is not None else ""
    return connect(
        f"{broker.wss_url}/ws/viewer{query}",
        ssl=broker.client_ssl(),
        additional_headers={"Cookie": cookie},
        origin=broker.origin,  # type: ignore[arg-type]
    )


async def refused(broker: RunningBroker, cookie: str, ticket: str | None) -> int:
    with pytest.raises(InvalidStatus) as failure:
        async with open_viewer(broker, cookie, ticket):
            pass
    return failure.value.response.status_code


@pytest.fixture
async def host(broker: RunningBroker, org: Org, tmp_path: Path) -> AsyncIterator[ClientConnection]:
    state = await enroll_agent(broker, org, HOST, tmp_path / "agent")
    async with connect(f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as agent:
        await agent.send(protocol.encode(protocol.AgentHello(HOST, "診察室", "0.1.0")))
        yield agent


async def test_a_ticket_opens_one_viewer_once(
    broker: RunningBroker, user: SignedIn, host: ClientConnection
) -> None:
    """The first upgrade with a ticket works; the same ticket again is refused (403)."""
    ticket = await user.ticket(HOST)
    async with open_viewer(broker, user.cookie_header(), ticket) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
        assert isinstance(
            protocol.parse(await host.recv(), Direction.BROKER_TO_AGENT), protocol.SessionStart
        )
    assert await refused(broker, user.cookie_header(), ticket) == 403


async def test_no_ticket_or_a_forged_one_is_refused(broker: RunningBroker, user: SignedIn) -> None:
    """A session cookie alone, or with a made-up ticket, gets no WebSocket."""
    assert await refused(broker, user.cookie_header(), None) == 403
    assert await refused(broker, user.cookie_header(), "A" * 43) == 403
    assert await refused(broker, user.cookie_header(), "A" * 500) == 403


async def test_a_ticket_expires_after_30_seconds(broker: RunningBroker, user: SignedIn) -> None:
    """A ticket unused for 31 s is refused."""
    ticket = await user.ticket(HOST)
    broker.clock.advance(31)
    assert await refused(broker, user.cookie_header(), ticket) == 403


async def test_a_ticket_works_only_with_its_own_session(
    broker: RunningBroker, org: Org, user: SignedIn
) -> None:
    """Another person's session cannot use my ticket, nor can a request without a cookie."""
    ticket = await user.ticket(HOST)
    other = await make_person(broker, org, "staff")
    async with signed_in(broker, other) as someone_else:
        assert await refused(broker, someone_else.cookie_header(), ticket) == 403
    assert await refused(broker, "", ticket) == 403
    async with open_viewer(broker, user.cookie_header(), ticket):
        pass  # still unspent: the refusals above did not consume it


async def test_a_ticket_names_one_host(
    broker: RunningBroker, user: SignedIn, host: ClientConnection
) -> None:
    """Joining another host than the ticket's is refused (unauthorized, 4401)."""
    ticket = await user.ticket("another-pc")
    async with open_viewer(broker, user.cookie_header(), ticket) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
        error = protocol.parse(await viewer.recv(), Direction.BROKER_TO_VIEWER)
        assert isinstance(error, protocol.Error)
        assert error.code == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await viewer.recv()
        assert viewer.close_code == CloseCode.UNAUTHORIZED


async def test_password_only_session_gets_no_ticket(broker: RunningBroker, doctor: Person) -> None:
    """Before the second factor, asking for a ticket answers 401 mfa_required."""
    async with broker.http() as http:
        first = await password_step(http, doctor.username, doctor.password)
        response = await http.post(
            "/api/viewer-tickets",
            json={"host_id": HOST},
            headers={"X-CSRF-Token": first.json()["csrf_token"]},
        )
    assert response.status_code == 401
    assert response.json()["error"] == "mfa_required"


async def test_logging_out_ends_the_open_viewer(
    broker: RunningBroker, user: SignedIn, host: ClientConnection
) -> None:
    """Logout closes the viewer at once (bye signed_out, 4401) and frees the host."""
    ticket = await user.ticket(HOST)
    async with open_viewer(broker, user.cookie_header(), ticket) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
        await host.recv()
        assert (await user.post("/api/logout")).status_code == 200
        bye = protocol.parse(await viewer.recv(), Direction.BROKER_TO_VIEWER)
        assert bye == protocol.Bye("signed_out")
        with pytest.raises(ConnectionClosed):
            await viewer.recv()
        assert viewer.close_code == CloseCode.UNAUTHORIZED
    told = protocol.parse(await host.recv(), Direction.BROKER_TO_AGENT)
    assert isinstance(told, protocol.Bye)
    assert told.reason == "signed_out"


@pytest.mark.parametrize("bad", ["a\x00b", "tab\there", "\x7f"])
async def test_free_text_refuses_control_characters(
    broker: RunningBroker, org: Org, bad: str
) -> None:
    """NUL and other control characters in any text field are a 400, never stored (the
    database could not store NUL: PostgreSQL refuses it)."""
    admin = await make_person(broker, org, "admin")
    async with signed_in(broker, admin) as boss:
        response = await boss.post(
            "/api/admin/users", json={"username": "ok-name", "display_name": bad, "role": "staff"}
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_the_clinics_text_entry_reaches_the_ticket_and_the_agent(
    broker: RunningBroker, org: Org, user: SignedIn, host: ClientConnection
) -> None:
    """A clinic that allows viewer text: the viewer's ticket names it (the page offers its
    text field) and the agent's session_start carries it (the agent enforces it); another
    clinic's default stays host IME only."""
    first = await user.ticket_response(HOST)
    assert first.json()["text_entry"] == "host_ime"
    admin = await make_person(broker, org, "admin")
    async with signed_in(broker, admin) as boss:
        changed = await boss.http.put(
            "/api/admin/settings", json={"text_entry": "both"}, headers=boss.headers
        )
        assert changed.status_code == 200, changed.text
        refused = await boss.http.put(
            "/api/admin/settings", json={"text_entry": "clipboard"}, headers=boss.headers
        )
        assert refused.status_code == 400
    response = await user.ticket_response(HOST)
    assert response.json()["text_entry"] == "both"
    async with open_viewer(broker, user.cookie_header(), response.json()["ticket"]) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
        start = protocol.parse(await host.recv(), Direction.BROKER_TO_AGENT)
        assert isinstance(start, protocol.SessionStart)
        assert start.text_entry == "both"


TURN_SECRET = "a-test-secret-shared-with-coturn"
TURN_URLS = (
    "stun:203.0.113.1:3478 turn:203.0.113.1:3478?transport=udp turns:203.0.113.1:443?transport=tcp"
)


@pytest.mark.parametrize(
    "broker",
    [{"turn_servers": TURN_URLS, "turn_secret": TURN_SECRET, "ice_policy": "relay"}],
    indirect=True,
)
async def test_both_ends_get_ice_servers_with_their_own_turn_credential(
    broker: RunningBroker, user: SignedIn, host: ClientConnection
) -> None:
    """The ticket carries STUN and TURN with a credential coturn will accept (never the
    secret) and the clinic's policy; the agent's session start carries its own, naming the
    session, valid a few minutes past the ticket."""
    response = await user.ticket_response(HOST)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ice_policy"] == "relay"
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:203.0.113.1:3478"], "username": None, "credential": None}
    assert turn["urls"] == TURN_URLS.split()[1:]
    assert turn["credential"] == password_for(TURN_SECRET, turn["username"])
    assert TURN_SECRET not in response.text
    expiry = int(turn["username"].split(":")[0])
    now = broker.clock.now().timestamp()
    assert body["expires_in"] < expiry - now <= broker.settings.turn_credential_ttl_s
    async with open_viewer(broker, user.cookie_header(), body["ticket"]) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
        start = protocol.parse(await host.recv(), Direction.BROKER_TO_AGENT)
        assert isinstance(start, protocol.SessionStart)
        assert start.ice_policy == "relay"
        agent_turn = start.ice_servers[-1]
        assert agent_turn.username is not None
        assert agent_turn.username.endswith(f":{start.session_id}")
        assert agent_turn.credential == password_for(TURN_SECRET, agent_turn.username)


@pytest.mark.parametrize("broker", [{"block_local_input": "outside_hours"}], indirect=True)
async def test_the_privacy_screen_follows_the_clinics_opening_hours(
    broker: RunningBroker, org: Org, user: SignedIn, host: ClientConnection
) -> None:
    """Outside opening hours (the broker's default mode) the agent's session_start asks for
    the privacy screen, inside them not; the hours are read in the clinic's zone at the
    broker's clock's now."""
    local = broker.app.state.clock.now().astimezone(ZoneInfo("Asia/Tokyo"))
    today = local.weekday()
    minute = local.hour * 60 + local.minute
    # Open today until an hour from now (at most 24:00); the other days only.
    inside = [{"days": [today], "start_minute": 0, "end_minute": min(minute + 60, 1440)}]
    outside = [{"days": [d for d in range(7) if d != today], "start_minute": 0, "end_minute": 1440}]
    admin = await make_person(broker, org, "admin")
    for hours, blocked in ((outside, True), (inside, False)):
        async with signed_in(broker, admin) as boss:
            changed = await boss.http.put(
                "/api/admin/settings", json={"opening_hours": hours}, headers=boss.headers
            )
            assert changed.status_code == 200, changed.text
        ticket = await user.ticket(HOST)
        async with open_viewer(broker, user.cookie_header(), ticket) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            start = protocol.parse(await host.recv(), Direction.BROKER_TO_AGENT)
            assert isinstance(start, protocol.SessionStart)
            assert start.block_local_input is blocked
        while not isinstance(
            protocol.parse(await host.recv(), Direction.BROKER_TO_AGENT), protocol.Bye
        ):
            pass

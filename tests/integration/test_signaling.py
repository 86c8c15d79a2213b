"""Signaling through a real broker: pairing, relaying and every refusal, over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import mamori_protocol as protocol
from broker.access import remote_policy as org_policy
from broker.db.models import Organization
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, SignedIn, signed_in
from devkit.sdp import HOST_ANSWER, VIEWER_OFFER
from host_agent.trust.credentials import AgentState
from mamori_protocol import CloseCode, Direction

pytestmark = pytest.mark.integration

OFFER = VIEWER_OFFER
ANSWER = HOST_ANSWER


def agent_connect(broker: RunningBroker, state: AgentState) -> connect:
    """The agent port, showing the enrolled host's client certificate."""
    return connect(f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context())


async def viewer_connect(
    broker: RunningBroker,
    user: SignedIn,
    host_id: str = "clinic-pc-1",
    cookie: str | None = None,
    origin: str | None = None,
) -> connect:
    """A viewer socket as a browser opens it: session cookie plus a fresh ticket."""
    ticket = await user.ticket(host_id)
    return connect(
        f"{broker.wss_url}/ws/viewer?ticket={ticket}",
        ssl=broker.client_ssl(),
        additional_headers={"Cookie": cookie if cookie is not None else user.cookie_header()},
        origin=origin or broker.origin,  # type: ignore[arg-type]
    )


async def recv(ws: ClientConnection, direction: Direction) -> protocol.Message:
    return protocol.parse(await ws.recv(), direction)


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    return ws.close_code, ws.close_reason


@pytest.fixture
async def agent(broker: RunningBroker, agent_state: AgentState) -> AsyncIterator[ClientConnection]:
    async with agent_connect(broker, agent_state) as ws:
        await ws.send(protocol.encode(protocol.AgentHello("clinic-pc-1", "受付PC", "0.1.0")))
        yield ws


async def wait_for_host(user: SignedIn, host_id: str) -> None:
    for _ in range(100):
        response = await user.http.get("/api/hosts")
        if any(h["host_id"] == host_id for h in response.json()["hosts"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{host_id} never listed")


async def test_viewer_and_agent_are_paired_and_relay_offer_answer_and_ice(
    broker: RunningBroker, user: SignedIn, agent: ClientConnection
) -> None:
    """A viewer's join, offer and candidate reach the agent with a session id; replies return."""
    await wait_for_host(user, "clinic-pc-1")
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        join = await recv(agent, Direction.BROKER_TO_AGENT)
        assert isinstance(join, protocol.SessionStart)
        sid = join.session_id
        assert sid is not None
        await viewer.send(protocol.encode(protocol.Offer(OFFER)))
        offer = await recv(agent, Direction.BROKER_TO_AGENT)
        assert offer == protocol.Offer(OFFER, session_id=sid)
        await viewer.send(
            protocol.encode(protocol.IceCandidate("candidate:1 1 udp 1 1.2.3.4 9 typ host", "0", 0))
        )
        ice = await recv(agent, Direction.BROKER_TO_AGENT)
        assert isinstance(ice, protocol.IceCandidate)
        assert (ice.session_id, ice.sdp_mid) == (sid, "0")
        await agent.send(protocol.encode(protocol.Answer(ANSWER, session_id=sid)))
        assert await recv(viewer, Direction.BROKER_TO_VIEWER) == protocol.Answer(ANSWER)
        await viewer.send(protocol.encode(protocol.Bye("viewer_left")))
        bye = await recv(agent, Direction.BROKER_TO_AGENT)
        assert bye == protocol.Bye("viewer_left", session_id=sid)


async def test_host_list_shows_connected_agent_and_busy_state(
    broker: RunningBroker, user: SignedIn, agent: ClientConnection
) -> None:
    """GET /api/hosts lists the agent, and marks it busy while a viewer is on it."""
    await wait_for_host(user, "clinic-pc-1")
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        await recv(agent, Direction.BROKER_TO_AGENT)
        listing = await user.http.get("/api/hosts")
        assert listing.json() == {
            "hosts": [
                {
                    "host_id": "clinic-pc-1",
                    # The admin's name from enrollment, not the one the agent's hello
                    # claims (受付PC): a hello cannot rename a PC.
                    "name": "診察室1",
                    "busy": True,
                    # A doctor's default grant: every host, control, any time.
                    "mode": "control",
                    "refusal": None,
                    "closes_at": None,
                    "request": None,
                }
            ],
            # Whether any grant names this person (else the page says to ask an admin).
            "has_grant": True,
            "time_zone": "Asia/Tokyo",
        }


async def test_host_list_needs_a_session(broker: RunningBroker) -> None:
    """Without a session cookie the host list answers 401 and lists nothing."""
    async with broker.http() as http:
        response = await http.get("/api/hosts")
    assert response.status_code == 401
    assert "hosts" not in response.json()


async def test_unknown_host_is_refused_clearly(broker: RunningBroker, user: SignedIn) -> None:
    """Joining a host with no agent gets an unknown_host error and close 4404."""
    async with await viewer_connect(broker, user, "no-such-pc") as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("no-such-pc")))
        error = await recv(viewer, Direction.BROKER_TO_VIEWER)
        assert isinstance(error, protocol.Error)
        assert error.code == "unknown_host"
        assert (await closed_with(viewer))[0] == CloseCode.UNKNOWN_HOST


async def test_second_viewer_for_a_busy_host_is_refused(
    broker: RunningBroker, user: SignedIn, doctor: Person, agent: ClientConnection
) -> None:
    """A second viewer on a host in use (another signed-in browser session, even of the same
    person) gets host_busy and close 4409; the first is untouched."""
    await wait_for_host(user, "clinic-pc-1")
    async with (
        signed_in(broker, doctor) as elsewhere,
        await viewer_connect(broker, user) as first,
        await viewer_connect(broker, elsewhere) as second,
    ):
        await first.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        join = await recv(agent, Direction.BROKER_TO_AGENT)
        await second.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        error = await recv(second, Direction.BROKER_TO_VIEWER)
        assert isinstance(error, protocol.Error)
        assert error.code == "host_busy"
        assert (await closed_with(second))[0] == CloseCode.HOST_BUSY
        await first.send(protocol.encode(protocol.Offer(OFFER)))
        assert await recv(agent, Direction.BROKER_TO_AGENT) == protocol.Offer(
            OFFER,
            session_id=join.session_id,  # type: ignore[union-attr]
        )


async def test_the_same_browser_coming_back_takes_its_session_over(
    broker: RunningBroker, user: SignedIn, agent: ClientConnection
) -> None:
    """The same browser session joining again (its network changed; the old socket may be
    half-open) ends its old session as peer_failed and gets the host at once."""
    await wait_for_host(user, "clinic-pc-1")
    async with (
        await viewer_connect(broker, user) as first,
        await viewer_connect(broker, user) as again,
    ):
        await first.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        join = await recv(agent, Direction.BROKER_TO_AGENT)
        await again.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        assert await recv(first, Direction.BROKER_TO_VIEWER) == protocol.Bye("peer_failed")
        assert await recv(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
            "peer_failed",
            session_id=join.session_id,  # type: ignore[union-attr]
        )
        second_join = await recv(agent, Direction.BROKER_TO_AGENT)
        assert isinstance(second_join, protocol.SessionStart)
        assert second_join.session_id != join.session_id  # type: ignore[union-attr]


async def test_agent_drop_tells_the_viewer_host_disconnected(
    broker: RunningBroker, user: SignedIn, agent: ClientConnection
) -> None:
    """When the agent's link drops mid-session the viewer gets bye host_disconnected + 4410."""
    await wait_for_host(user, "clinic-pc-1")
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        await recv(agent, Direction.BROKER_TO_AGENT)
        await agent.close()
        assert await recv(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye("host_disconnected")
        code, reason = await closed_with(viewer)
        assert code == CloseCode.HOST_DISCONNECTED
        assert reason == "host disconnected"


@pytest.mark.parametrize(
    ("frame", "code", "error"),
    [
        ("not json", CloseCode.MALFORMED, "malformed"),
        (json.dumps({"type": "clipboard", "text": "x"}), CloseCode.UNKNOWN_TYPE, "unknown_type"),
        (
            json.dumps({"type": "viewer_join", "host_id": "a", "x": 1}),
            CloseCode.MALFORMED,
            "malformed",
        ),
        (json.dumps({"type": "answer", "sdp": OFFER}), CloseCode.UNEXPECTED, "unexpected"),
    ],
    ids=["not-json", "unknown-type", "unknown-field", "wrong-direction"],
)
async def test_bad_viewer_messages_get_a_clear_close(
    broker: RunningBroker, user: SignedIn, frame: str, code: CloseCode, error: str
) -> None:
    """Malformed, unknown or misdirected viewer messages get an error and their close code."""
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(frame)
        message = await recv(viewer, Direction.BROKER_TO_VIEWER)
        assert isinstance(message, protocol.Error)
        assert message.code == error
        assert (await closed_with(viewer))[0] == code


async def test_oversized_message_is_closed_with_1009(broker: RunningBroker, user: SignedIn) -> None:
    """A frame over 64 KiB is refused by the server with close 1009 (message too big)."""
    async with await viewer_connect(broker, user) as viewer:
        big = json.dumps({"type": "offer", "sdp": "v=0" + "a" * protocol.MAX_MESSAGE_BYTES})
        await viewer.send(big)
        assert (await closed_with(viewer))[0] == CloseCode.MESSAGE_TOO_BIG


async def test_bad_agent_message_is_refused(broker: RunningBroker, agent_state: AgentState) -> None:
    """An agent whose first message is not agent_hello is closed with 4405."""
    async with agent_connect(broker, agent_state) as ws:
        await ws.send(protocol.encode(protocol.Bye("x", session_id="a" * 22)))
        message = await recv(ws, Direction.BROKER_TO_AGENT)
        assert isinstance(message, protocol.Error)
        assert (await closed_with(ws))[0] == CloseCode.UNEXPECTED


async def test_browser_port_serves_no_agent_endpoint(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """/ws/agent is on the agent port only: the browser port refuses it before the upgrade,
    whatever Authorization header (the old agent token) comes along."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"{broker.wss_url}/ws/agent",
            ssl=agent_state.ssl_context(),
            additional_headers={"Authorization": "Bearer mamori-agent-" + "A" * 43},
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_viewer_without_session_is_refused_before_upgrade(
    broker: RunningBroker, user: SignedIn
) -> None:
    """A valid ticket with a forged session cookie never gets a WebSocket (HTTP 403)."""
    with pytest.raises(InvalidStatus) as refused:
        async with await viewer_connect(broker, user, cookie="__Host-mamori_session=forged"):
            pass
    assert refused.value.response.status_code == 403


async def test_viewer_from_foreign_origin_is_refused(broker: RunningBroker, user: SignedIn) -> None:
    """A valid cookie and ticket sent from another site's page (CSWSH) is refused."""
    with pytest.raises(InvalidStatus) as refused:
        async with await viewer_connect(broker, user, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def test_pages_carry_strict_security_headers(broker: RunningBroker) -> None:
    """Every page of the client (sign-in and hosts, viewer, console) and the files they load
    are served with a no-inline CSP, frame-ancestors none and no-store."""
    async with broker.http() as http:
        for path in ("/", "/viewer.html", "/console.html", "/css/base.css", "/app/shell.js"):
            page = await http.get(path)
            assert page.status_code == 200, path
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "style-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert page.headers["cache-control"] == "no-store"
            assert "clipboard-read=()" in page.headers["permissions-policy"]
        source = await http.get("/__init__.py")
    assert source.status_code == 404


async def test_session_start_carries_the_organizations_own_policy(
    broker: RunningBroker, org: Org, user: SignedIn, agent: ClientConnection
) -> None:
    """A clinic's settings (console settings page) reach the agent in session_start; before
    it set any, the broker's defaults did."""
    await wait_for_host(user, "clinic-pc-1")
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        before = await recv(agent, Direction.BROKER_TO_AGENT)
        assert isinstance(before, protocol.SessionStart)
        defaults = broker.app.state.relay.policy
        assert (before.idle_s, before.watermark) == (defaults.idle_s, defaults.watermark)
        await viewer.send(protocol.encode(protocol.Bye("viewer_left")))
        await recv(agent, Direction.BROKER_TO_AGENT)
    async with broker.db.session() as s:
        changes: dict[str, int | bool] = {"idle_s": 300, "watermark": False}
        await org_policy.change(
            s, org.id, defaults, changes, user.person.user_id, broker.clock.now()
        )
        await s.commit()
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        after = await recv(agent, Direction.BROKER_TO_AGENT)
        assert isinstance(after, protocol.SessionStart)
        assert (after.idle_s, after.watermark, after.max_s) == (300, False, defaults.max_s)


async def test_session_start_names_the_clinics_time_zone(
    broker: RunningBroker, org: Org, user: SignedIn, agent: ClientConnection
) -> None:
    """The agent hears the clinic's own zone in session_start: its watermark shows that
    clinic's time, not Japan's."""
    async with broker.db.session() as s:
        clinic = await s.get(Organization, org.id)
        assert clinic is not None
        clinic.time_zone = "America/New_York"
        await s.commit()
    await wait_for_host(user, "clinic-pc-1")
    async with await viewer_connect(broker, user) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin("clinic-pc-1")))
        start = await recv(agent, Direction.BROKER_TO_AGENT)
    assert isinstance(start, protocol.SessionStart)
    assert start.time_zone == "America/New_York"

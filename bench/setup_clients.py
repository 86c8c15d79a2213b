"""The clients of the set-up and sign-in benchmark (``bench.setups``): an agent link that
answers every offer with the smallest SDP, a viewer that sets up sessions one after another
the way the viewer page does, and a browser that signs in.

What one session set-up is, precisely: from asking a device challenge to the viewer holding
the agent's answer. In between: the challenge signed by the approved device key (P-256),
the single-use ticket (``/api/viewer-tickets``), ``/ws/viewer?ticket=...`` opened with the
browser session's cookie and the page's Origin, ``viewer_join``, the broker's checks and
``session_start`` delivered to the agent, the viewer's offer delivered to the agent and the
agent's answer delivered back to the viewer. No ICE, no media: what follows depends on the
network, not the broker. The viewer then says ``bye`` and waits until its agent heard it
before the next set-up, so each session's end (audited) is inside the loop too; the rate
counts whole cycles, the latency only the set-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
from websockets.asyncio.client import ClientConnection, connect

import mamori_protocol as protocol
from devkit.broker import RunningBroker
from devkit.devices import proof
from devkit.fleet import FleetCerts, host_id
from devkit.identity import Person, SignedIn, open_viewer, sign_in_client
from devkit.sdp import HOST_ANSWER, VIEWER_OFFER
from mamori_protocol import Direction

STEP_TIMEOUT_S: Final = 15.0
# Messages a viewer or agent reads while waiting for the one it needs (a resume secret,
# a notice): a bound, not a count any step comes near.
MAX_MESSAGES: Final = 20


@dataclass
class Tally:
    """What a measuring loop saw: completion times (monotonic), set-up latencies, failures."""

    finishes: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class BenchAgent:
    """One host's agent link over mutual TLS (a fleet certificate), speaking the protocol
    by hand: no capture, no peer connection. ``byes`` counts the sessions it saw end."""

    def __init__(self, certs: FleetCerts, index: int) -> None:
        self.host_id = host_id(index)
        self._state = certs.state(index)
        self.byes = 0
        self.bye_seen = asyncio.Event()

    @contextlib.asynccontextmanager
    async def linked(self, broker: RunningBroker) -> AsyncIterator[None]:
        context = self._state.ssl_context(str(broker.certs.ca_cert))
        async with connect(f"{broker.agent_wss_url}/ws/agent", ssl=context) as ws:
            await ws.send(protocol.encode(protocol.AgentHello(self.host_id, "診察室", "0.1.0")))
            task = asyncio.create_task(self._serve(ws))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _serve(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = protocol.parse(raw, Direction.BROKER_TO_AGENT)
            if isinstance(message, protocol.Offer):
                answer = protocol.Answer(HOST_ANSWER, session_id=message.session_id)
                await ws.send(protocol.encode(answer))
            elif isinstance(message, protocol.Bye):
                self.byes += 1
                self.bye_seen.set()


async def _until_answer(ws: ClientConnection) -> None:
    for _ in range(MAX_MESSAGES):
        raw = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT_S)
        message = protocol.parse(raw, Direction.BROKER_TO_VIEWER)
        if isinstance(message, protocol.Answer):
            return
        if isinstance(message, protocol.Bye | protocol.Error):
            raise RuntimeError(f"refused: {message}")
    raise RuntimeError("no answer")


async def set_up_once(broker: RunningBroker, user: SignedIn, agent: BenchAgent) -> float:
    """One set-up (see the module's docstring) and its end; the set-up's seconds."""
    if user.device is None:
        raise RuntimeError("the viewer has no approved device")
    started = time.monotonic()
    body = await proof(user, user.device, agent.host_id)
    response = await user.post("/api/viewer-tickets", json=body)
    if response.status_code != 201:
        raise RuntimeError(f"ticket: {response.status_code} {response.text[:200]}")
    ticket = response.json()["ticket"]
    agent.bye_seen.clear()
    async with open_viewer(broker, user, ticket) as ws:
        await ws.send(protocol.encode(protocol.ViewerJoin(agent.host_id, resume=True)))
        await ws.send(protocol.encode(protocol.Offer(VIEWER_OFFER)))
        await _until_answer(ws)
        took = time.monotonic() - started
        await ws.send(protocol.encode(protocol.Bye("viewer_left")))
        await asyncio.wait_for(agent.bye_seen.wait(), STEP_TIMEOUT_S)
    return took


async def set_up_loop(
    broker: RunningBroker, user: SignedIn, agent: BenchAgent, deadline: float, tally: Tally
) -> None:
    """Set-ups one after another until ``deadline`` (monotonic); a failure is recorded and
    the loop goes on (a refused set-up still took the broker's time)."""
    while time.monotonic() < deadline:
        try:
            took = await set_up_once(broker, user, agent)
        except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
            tally.failures.append(f"{agent.host_id}: {exc!r}"[:300])
            await asyncio.sleep(0.1)  # a refusal is quick; do not spin on it
            continue
        tally.finishes.append(time.monotonic())
        tally.latencies.append(took)


def source_address(n: int) -> str:
    """A distinct client address per sign-in (named through X-Forwarded-For, as a proxy in
    front does): the per-address throttle is meant for one source, and a real load comes
    from many clinics."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass
class SignInPool:
    """People not signed in yet (each person's TOTP step is single-use), taken in order."""

    people: list[Person]
    taken: int = 0

    def next(self) -> tuple[int, Person] | None:
        if self.taken >= len(self.people):
            return None
        self.taken += 1
        return self.taken, self.people[self.taken - 1]

    @property
    def ran_out(self) -> bool:
        return self.taken >= len(self.people)


async def sign_in_loop(
    broker: RunningBroker, pool: SignInPool, deadline: float, tally: Tally
) -> None:
    """Password + TOTP sign-ins (``devkit.identity.sign_in_client``: the page's anonymous
    session, ``/api/login``, ``/api/login/totp``) one after another on one kept-alive
    connection, the cookie jar emptied before each (a new browser each time), until
    ``deadline`` or the pool's end."""
    async with broker.http() as http:
        while time.monotonic() < deadline and (taken := pool.next()) is not None:
            n, person = taken
            http.cookies.clear()
            started = time.monotonic()
            try:
                await sign_in_client(broker, http, person, source_address(n))
            except (AssertionError, httpx.HTTPError) as exc:
                tally.failures.append(f"{person.username}: {exc!r}"[:300])
                continue
            tally.finishes.append(time.monotonic())
            tally.latencies.append(time.monotonic() - started)


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a broker's log, for a failed run's message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""

"""The whole product inside the clinic–home topology (devkit/internet.py): the broker on
the internet (a loop in that namespace, on 203.0.113.2 port 443 like a real deployment, so
a network that passes only 443 reaches it), coturn beside it on 203.0.113.1 (TURN/TLS on
443 there), a real agent in the clinic behind its NAT, and Chromium in the home behind
the other. The test's helpers run on the internet loop and reach the broker directly.

    async with reach_world(topo, tmp_path, turn, internet, clinic) as world:
        page = await world.open_viewer(context)     # Chromium at home sees the clinic PC

The broker's name ``broker.mamori.test`` is mapped to its address in Chromium
(``world.chromium_args``); the agent dials the address itself. Media goes directly between
the NATs (srflx) or through coturn, as ICE finds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page

from certs.authority import ServerFiles, write_dev_server_files
from devkit.agent import make_code
from devkit.broker import RunningBroker, running_broker
from devkit.browser import register_this_browser, sign_in
from devkit.devices import approve_pending_of
from devkit.display import XvfbDisplay
from devkit.identity import Org, Person, make_org, make_person
from devkit.internet import INTERNET, silent_lan_routes
from devkit.netns import Topology
from devkit.netns_loop import NamespaceLoop
from devkit.turn import TurnServer
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.platform.backends import open_injector
from host_agent.trust.credentials import AgentState
from host_agent.trust.enrollment import enroll
from host_agent.webrtc.peer_session import StreamSettings

BROKER_NAME = "broker.mamori.test"
BROKER_ADDRESS = "203.0.113.2"
# The agent port published as 443 on an address of its own (``agent_on_443``): a clinic
# router that passes only TCP 443 out still reaches it (README "Reach").
AGENT_PORT_ADDRESS = "203.0.113.3"
HOST_ID = "clinic-pc-1"


def turn_urls(turn: TurnServer) -> str:
    """MAMORI_TURN_SERVERS for the test coturn: STUN, then TURN UDP, TCP, TLS 443."""
    return " ".join([f"stun:{turn.address}:{turn.port}", *turn.urls()])


@dataclass
class ReachWorld:
    broker: RunningBroker
    internet: NamespaceLoop
    clinic: NamespaceLoop
    agent: BrokerLink
    org: Org
    person: Person

    @property
    def chromium_args(self) -> tuple[str, ...]:
        return (f"--host-resolver-rules=MAP {BROKER_NAME} {BROKER_ADDRESS}",)

    async def open_viewer(
        self, context: BrowserContext, timeout_ms: float = 30_000
    ) -> tuple[Page, float]:
        """Sign in through the pages, have the device approved, open the host, and wait
        for picture and input channel; the page and the seconds from opening the host to
        its first picture (ticket, signaling, ICE, DTLS, first frame)."""
        page = await context.new_page()
        await sign_in(page, self.broker, self.person)
        await register_this_browser(page)
        approved = await self.internet.run(approve_pending_of(self.broker, self.person))
        if not approved:
            raise AssertionError("the browser's device did not reach the admin's list")
        await page.wait_for_function("() => document.body?.dataset.hostsState === 'ready'")
        opened = time.monotonic()
        await page.click(f'#host-list li.host-item[data-host-id="{HOST_ID}"] a.host-link')
        await page.wait_for_function(
            "() => document.body.dataset.video === 'playing'", timeout=timeout_ms
        )
        first_picture = time.monotonic() - opened
        await page.wait_for_function(
            "() => document.body.dataset.connection === 'connected'"
            " && document.body.dataset.video === 'playing'"
            " && document.body.dataset.input === 'open'",
            timeout=timeout_ms,
        )
        return page, first_picture


@contextlib.asynccontextmanager
async def reach_world(
    topo: Topology,
    directory: Path,
    turn: TurnServer,
    internet: NamespaceLoop,
    clinic: NamespaceLoop,
    display: XvfbDisplay,
    agent_turn_transport: str | None = None,
    agent_on_443: bool = False,
    **broker_settings: Any,
) -> AsyncIterator[ReachWorld]:
    """A broker (SQLite) on ``internet``'s loop with TURN configured for ``turn``, an org,
    a doctor, and an agent on ``clinic``'s loop streaming ``display``, enrolled from the
    clinic (through its router) and dialing the agent URL the broker gave it.

    ``agent_on_443``: the broker's agent port listens on 443 of its own address
    (``AGENT_PORT_ADDRESS``), the shape for a clinic router that passes only 443."""
    names = [BROKER_ADDRESS, BROKER_NAME, AGENT_PORT_ADDRESS]
    certs: ServerFiles = write_dev_server_files(directory / "certs", names)
    await topo.exec(INTERNET, "ip", "address", "add", f"{BROKER_ADDRESS}/32", "dev", "lo")
    # Packets to the LANs' private addresses vanish on the internet as on the real one
    # (coturn dropped a TLS client's whole session when relaying to them failed at once).
    await silent_lan_routes(topo)
    if agent_on_443:
        await topo.exec(INTERNET, "ip", "address", "add", f"{AGENT_PORT_ADDRESS}/32", "dev", "lo")
        broker_settings = {
            "agent_host": AGENT_PORT_ADDRESS,
            "agent_port": 443,
            "agent_public_url": f"wss://{AGENT_PORT_ADDRESS}:443",
            **broker_settings,
        }
    stack = contextlib.AsyncExitStack()
    settings = {
        "host": BROKER_ADDRESS,
        "port": 443,
        "public_url": f"https://{BROKER_NAME}",
        "rp_id": BROKER_NAME,
        "turn_servers": turn_urls(turn),
        "turn_secret": turn.secret,
        "ice_loopback": False,
        **broker_settings,
    }
    url = f"sqlite+aiosqlite:///{directory / 'broker.db'}"
    # Runs once the broker has stopped (the stack unwinds last in, first out).
    stack.callback(close_leftover_sockets, (BROKER_ADDRESS, AGENT_PORT_ADDRESS))
    broker = await internet.run(stack.enter_async_context(running_broker(certs, url, **settings)))
    try:
        org = await internet.run(make_org(broker, "リーチ診療所"))
        person = await internet.run(make_person(broker, org, "doctor"))
        code = await internet.run(make_code(broker, org, HOST_ID, "診察室"))
        state = AgentState(directory / "agent")

        async def enroll_from_the_clinic() -> str:
            ca = str(broker.certs.ca_cert)
            args = (broker.https_url, code, HOST_ID, "診察室", state, ca)
            return (await asyncio.to_thread(enroll, *args)).agent_url

        agent_url = await clinic.run(enroll_from_the_clinic())

        injector = open_injector(display.name)

        async def start_agent() -> BrokerLink:
            from host_agent.webrtc.ice import prefer_turn_transport

            prefer_turn_transport(agent_turn_transport)
            link = BrokerLink(
                LinkSettings(
                    agent_url if agent_on_443 else broker.agent_wss_url,
                    HOST_ID,
                    "診察室",
                    state.ssl_context,
                ),
                StreamSettings(display=display.name),
                injector,
            )
            link.task = asyncio.ensure_future(link.run())  # type: ignore[attr-defined]
            await asyncio.wait_for(link.connected.wait(), 20)
            return link

        agent = await clinic.run(start_agent())
        try:
            yield ReachWorld(broker, internet, clinic, agent, org, person)
        finally:

            async def stop_agent() -> None:
                await agent.stop()
                await asyncio.wait_for(agent.task, 10)  # type: ignore[attr-defined]

            await clinic.run(stop_agent())
            injector.close()
    finally:
        await internet.run(stack.aclose())


log = logging.getLogger(__name__)


def close_leftover_sockets(addresses: tuple[str, ...]) -> int:
    """Close what a stopped broker left open on its addresses; how many (logged). Called
    on the broker's loop, once it has stopped.

    Known and not fixed: after a network change in these tests one accepted connection of
    the broker's (from the home's old address) was seen still open after the server had
    stopped, though the broker aborts its leftovers (``broker.server.servers``); the
    garbage collector's ResourceWarning then failed whichever test ran next (an ops test,
    2026-12-04). In a broker process the socket goes with the process; here it is closed
    now, and logged, rather than left to surface elsewhere."""
    closed = 0
    for obj in gc.get_objects():
        # A weak proxy to a dead object raises on any look at it (the full suite has some).
        if type(obj) in weakref.ProxyTypes:
            continue
        if isinstance(obj, asyncio.BaseTransport):
            sock = getattr(obj, "_sock", None)
        elif isinstance(obj, socket.socket):
            sock = obj
        else:
            continue
        if not isinstance(sock, socket.socket) or sock.fileno() == -1:
            continue
        try:
            local = sock.getsockname()
        except OSError:
            continue
        if not isinstance(local, tuple) or local[0] not in addresses:
            continue
        log.warning("a stopped broker's connection was still open: %s; closed", local)
        if isinstance(obj, asyncio.Transport):
            obj.abort()  # its socket is closed on the loop's next turn
        else:
            sock.close()
        closed += 1
    return closed

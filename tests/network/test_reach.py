"""The product across two NATs: the broker and coturn on the internet, the agent in the
clinic behind its router, Chromium running the real viewer in the home behind another.
Chromium sees the clinic PC's picture and types into the sample EHR; the selected
candidate pair is reported by the viewer (window.mamoriStats) and, since both ends sit
behind NAT, is srflx or relay."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import Page

from devkit.chromium import chromium
from devkit.display import SampleApp, XvfbDisplay, start_sample_app, start_xvfb
from devkit.internet import ADDRESSES, CLINIC, HOME, INTERNET, clinic_and_home, network_change
from devkit.netns import Topology, build
from devkit.netns_loop import namespace_loop
from devkit.reach import ReachWorld, reach_world
from devkit.turn import running_turn
from tests.e2e.test_browser_session import page_point

pytestmark = [
    pytest.mark.network,
    pytest.mark.display,
    pytest.mark.usefixtures("coturn", "debian_chromium"),
]


TURN_CERT = "turn-cert.pem"  # devkit/turn.py writes it beside the CA


@pytest.fixture
def display(tmp_path: Path) -> AsyncIterator[tuple[XvfbDisplay, SampleApp]]:
    with start_xvfb(1280, 720) as xvfb, start_sample_app(xvfb, tmp_path / "ehr.json") as app:
        yield xvfb, app


def spki_of(pem: Path) -> str:
    """Base64 SHA-256 of a certificate's public key, as Chromium's SPKI list wants it."""
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def route(page: Page, timeout_s: float = 10) -> dict[str, str | None]:
    """The viewer's selected candidate pair, once its stats name one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = await page.evaluate("() => window.mamoriStats || {}")
        if stats.get("localCandidateType") and stats.get("remoteCandidateType"):
            return {
                k: stats.get(k)
                for k in ("localCandidateType", "remoteCandidateType", "relayProtocol")
            }
        await asyncio.sleep(0.2)
    raise AssertionError("the viewer never reported a selected candidate pair")


async def types_into_the_ehr(page: Page, app: SampleApp, text: str) -> None:
    """Click the EHR's notes field through the picture and type; the app's state shows it."""
    await page.mouse.click(*await page_point(page, *app.center("notes")))
    await page.keyboard.type(text, delay=40)
    await app.wait_for_async(lambda s: text in s["notes"], timeout=15)


async def session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    display: tuple[XvfbDisplay, SampleApp],
    home_egress_tcp: tuple[int, ...] | None = None,
    agent_turn_transport: str | None = None,
    clinic_egress_tcp: tuple[int, ...] | None = None,
    then: Callable[[Topology, Page], Awaitable[None]] | None = None,
    **broker_settings: object,
) -> tuple[dict[str, str | None], float, list[str]]:
    """One viewer session in the shape given; (route, seconds to first picture, the
    agent's answer's candidate types). ``then`` runs last, while the session is up."""
    xvfb, app = display
    async with (
        build(
            clinic_and_home(home_egress_tcp=home_egress_tcp, clinic_egress_tcp=clinic_egress_tcp)
        ) as topo,
        running_turn(topo, INTERNET, ADDRESSES.server, tmp_path / "turn") as turn,
        namespace_loop(topo.netns(INTERNET)) as internet,
        namespace_loop(topo.netns(CLINIC)) as clinic,
        reach_world(
            topo,
            tmp_path / "world",
            turn,
            internet,
            clinic,
            xvfb,
            agent_turn_transport=agent_turn_transport,
            agent_on_443=clinic_egress_tcp is not None,
            **broker_settings,
        ) as world,  # fmt: skip
        chromium(
            tmp_path / "profile",
            # The broker's key and coturn's: Chromium checks the TURN server's certificate
            # for turns: like any other (the test CA is in no trust store).
            f"{world.broker.certs.spki_sha256_b64},{spki_of(turn.ca_file.parent / TURN_CERT)}",
            netns=topo.netns(HOME),
            extra_args=world.chromium_args,
        ) as context,
    ):
        # aiortc opens turns: with the default TLS context: trust the run's CA for it.
        monkeypatch.setenv("SSL_CERT_FILE", str(turn.ca_file))
        page, first_picture = await world.open_viewer(context, timeout_ms=40_000)
        found = await route(page)
        await types_into_the_ehr(page, app, f"reach-{int(time.time())}")
        answer = await agent_answer_types(world)
        if then is not None:
            await then(topo, page)
        return found, first_picture, answer


async def agent_answer_types(world: ReachWorld) -> list[str]:
    session = world.agent.session
    assert session is not None
    sdp = str(session._pc.localDescription.sdp)
    return [
        line.split(" typ ")[1].split()[0]
        for line in sdp.splitlines()
        if line.startswith("a=candidate:")
    ]


async def test_the_doctor_at_home_sees_and_drives_the_clinic_pc_across_two_nats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """Both ends behind NAT: picture, typing into the EHR, and a selected pair of srflx or
    relay candidates (never host: neither LAN is reachable from the other)."""
    found, seconds, _ = await session(tmp_path, monkeypatch, display)
    print(json.dumps({"shape": "two NATs", "route": found, "first_picture_s": round(seconds, 2)}))
    assert found["localCandidateType"] in {"srflx", "prflx", "relay"}
    assert found["remoteCandidateType"] in {"srflx", "prflx", "relay"}


async def test_relay_only_policy_relays_both_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """Under the clinic's relay-only policy the selected pair is relay at both ends, and the
    agent's answer offered relay candidates only."""
    found, seconds, answer = await session(tmp_path, monkeypatch, display, ice_policy="relay")
    print(json.dumps({"shape": "relay only", "route": found, "first_picture_s": round(seconds, 2)}))
    assert found["localCandidateType"] == "relay"
    assert found["remoteCandidateType"] == "relay"
    assert answer
    assert set(answer) == {"relay"}


async def test_a_home_that_passes_only_tcp_443_gets_the_picture_over_turn_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """The home router drops all UDP and all TCP but 443 (a hospital network) and the
    clinic chose relay only: the viewer reaches coturn over TLS on 443, the agent over
    UDP, and the session works through both relays."""
    found, seconds, _ = await session(
        tmp_path, monkeypatch, display, home_egress_tcp=(443,), ice_policy="relay"
    )
    shape = {"shape": "home 443 only, relay", "route": found, "first_picture_s": round(seconds, 2)}
    print(json.dumps(shape))
    assert found["localCandidateType"] == "relay"
    assert found["remoteCandidateType"] == "relay"
    assert found["relayProtocol"] == "tls"


async def test_a_clinic_that_passes_only_tcp_443_enrolls_links_and_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """The clinic router drops all UDP and all TCP but 443. The broker publishes its agent
    port as 443 on an address of its own: the agent enrolls from the clinic (browser port,
    443), links to the agent port it was told (443), and, started with
    ``--turn-transport tls``, relays its media through coturn over TLS on 443; the doctor
    at home (policy all) sees the picture and types into the EHR."""
    found, seconds, answer = await session(
        tmp_path, monkeypatch, display, clinic_egress_tcp=(443,), agent_turn_transport="tls"
    )
    shape = {"shape": "clinic 443 only", "route": found, "first_picture_s": round(seconds, 2)}
    print(json.dumps(shape))
    # Nothing but a relay can reach the clinic PC: its own address is private and its
    # router lets no UDP out, so neither host nor srflx can carry the media.
    assert found["remoteCandidateType"] == "relay"
    assert "relay" in answer


async def test_a_443_only_home_under_the_default_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """The same home under the default policy (direct when possible) works too: the viewer
    relays over TLS 443. (It failed in a loop while the test internet answered packets for
    the LANs with "network unreachable": coturn then closed the viewer's TLS session.)"""
    found, seconds, _ = await session(tmp_path, monkeypatch, display, home_egress_tcp=(443,))
    shape = {
        "shape": "home 443 only, policy all",
        "route": found,
        "first_picture_s": round(seconds, 2),
    }
    print(json.dumps(shape))
    assert found["localCandidateType"] == "relay"
    assert found["relayProtocol"] == "tls"


RESUME_BOUND_S = 25.0


async def test_the_viewer_resumes_by_itself_after_the_home_changes_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """Mid-session the home's default route moves to the second uplink (new public
    address, as Wi-Fi to LTE): the viewer notices, builds a new peer connection with a
    fresh ticket in the same signed-in session, and text typed afterwards reaches the
    EHR. The gap (route change to picture back) is printed."""
    _, app = display
    gap: list[float] = []

    async def change(topo: Topology, page: Page) -> None:
        connected_before = await connected_count(page)
        changed = time.monotonic()
        await network_change(topo)
        deadline = changed + RESUME_BOUND_S
        while time.monotonic() < deadline:
            if await connected_count(page) > connected_before and await page.evaluate(
                "() => document.body.dataset.video === 'playing'"
            ):
                break
            await asyncio.sleep(0.1)
        gap.append(time.monotonic() - changed)
        await page.wait_for_function("() => document.body.dataset.input === 'open'")
        await types_into_the_ehr(page, app, f"after-change-{int(time.time())}")

    await session(tmp_path, monkeypatch, display, then=change)
    print(json.dumps({"shape": "network change", "picture_back_s": round(gap[0], 2)}))
    # Measured 10.0-10.5 s (Chromium noticing the dead path, the viewer's 3 s grace, a new
    # ticket). Before the same browser could take its own session over, 37-60 s: the old
    # session held the PC until its half-open socket timed out. The bound tells them apart.
    assert gap[0] < RESUME_BOUND_S


async def connected_count(page: Page) -> int:
    """How often the viewer reached "connected" (its connection log, last 50 states)."""
    count: int = await page.evaluate(
        "() => (window.mamoriConnectionLog || []).filter((e) => e.state === 'connected').length"
    )
    return count

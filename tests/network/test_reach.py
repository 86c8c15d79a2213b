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
from devkit.turn import TurnServer, allocate, running_turn
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
    then: Callable[[Topology, Page, ReachWorld, TurnServer], Awaitable[None]] | None = None,
    init_script: str | None = None,
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
        if init_script is not None:
            await context.add_init_script(init_script)
        page, first_picture = await world.open_viewer(context, timeout_ms=40_000)
        found = await route(page)
        await types_into_the_ehr(page, app, f"reach-{int(time.time())}")
        answer = await agent_answer_types(world)
        if then is not None:
            await then(topo, page, world, turn)
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
WIFI_GONE_BOUND_S = 3.0 + 3.0  # the target, and a margin for a loaded machine

# Where a resume's time goes: the viewer page's own events, stamped (Date.now(), ms) as they
# happen: each peer connection's ICE and connection states, each ticket request and answer,
# each signaling socket opening, each video frame after the first of its connection.
TIMELINE = """
(() => {
  const log = (window.mamoriTimeline = []);
  const mark = (what) => log.push({ at: Date.now(), what });
  const Native = window.RTCPeerConnection;
  let n = 0;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      const id = ++n;
      mark(`pc${id} new`);
      const ice = () => mark(`pc${id} ice ${this.iceConnectionState}`);
      this.addEventListener("iceconnectionstatechange", ice);
      this.addEventListener("connectionstatechange", () => mark(`pc${id} ${this.connectionState}`));
      this.addEventListener("track", (e) => {
        const v = document.createElement("video");
        v.muted = true;
        v.srcObject = new MediaStream([e.track]);
        v.requestVideoFrameCallback?.(() => mark(`pc${id} first frame`));
        v.play().catch(() => {});
      });
    }
  };
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (url, init) => {
    const ticket = String(url).includes("viewer-tickets");
    if (ticket) mark("ticket asked");
    const response = await nativeFetch(url, init);
    if (ticket) mark(`ticket ${response.status}`);
    return response;
  };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      mark("socket new");
      this.addEventListener("open", () => mark("socket open"));
      this.addEventListener("close", (e) => mark(`socket close ${e.code}`));
    }
  };
})();
"""


@pytest.mark.parametrize("wifi_gone", [False, True], ids=["route-moved", "wifi-gone"])
async def test_the_viewer_resumes_by_itself_after_the_home_changes_network(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    display: tuple[XvfbDisplay, SampleApp],
    wifi_gone: bool,
) -> None:
    """Mid-session the home's default route moves to the second uplink (new public
    address, as Wi-Fi to LTE), with the old uplink still delivering inbound packets or cut
    (``wifi_gone``): the viewer notices, builds a new peer connection with a fresh ticket
    in the same signed-in session, and text typed afterwards reaches the EHR. The gap
    (route change to picture back) is printed, with the viewer's timeline of what happened
    in between (ms after the change)."""
    _, app = display
    gap: list[float] = []
    timeline: list[tuple[int, str]] = []

    async def change(topo: Topology, page: Page, *_: object) -> None:
        connected_before = await connected_count(page)
        changed_ms = await page.evaluate("() => Date.now()")
        changed = time.monotonic()
        await network_change(topo, wifi_gone=wifi_gone)
        deadline = changed + RESUME_BOUND_S
        while time.monotonic() < deadline:
            if await connected_count(page) > connected_before and await page.evaluate(
                "() => document.body.dataset.video === 'playing'"
            ):
                break
            await asyncio.sleep(0.1)
        gap.append(time.monotonic() - changed)
        events = await page.evaluate("() => window.mamoriTimeline || []")
        timeline.extend((e["at"] - changed_ms, e["what"]) for e in events if e["at"] >= changed_ms)
        print(json.dumps({"resume_timeline_ms": timeline}, ensure_ascii=False))
        await page.wait_for_function("() => document.body.dataset.input === 'open'")
        await types_into_the_ehr(page, app, f"after-change-{int(time.time())}")

    await session(tmp_path, monkeypatch, display, then=change, init_script=TIMELINE)
    shape = "wifi gone" if wifi_gone else "route moved"
    print(json.dumps({"shape": f"network change, {shape}", "picture_back_s": round(gap[0], 2)}))
    # Wifi gone: 1.96-3.06 s in three runs under a load average of 5-9 (1 s without a byte,
    # then a STUN probe answering a new public address, web_client/core/network_probe.js;
    # ticket and socket 0.1 s; the agent's new peer connection and ICE 0.2 s; DTLS 0.02 or
    # 0.5 s; first frame 0.2-0.7 s). 3.45-3.88 s before the probe (a 2.5 s stall limit).
    # Bounded at the 3 s target plus a 3 s margin for a loaded machine.
    # Route moved: 6.8 s; media keeps arriving on the old uplink, so only Chromium's
    # consent checks notice (5.5-7.5 s); the probe on "disconnected" then skips the 3 s
    # grace (9.6-12.3 s before). Before the take-over, 37-60 s: the old session held the
    # PC until its half-open socket timed out.
    if wifi_gone:
        assert gap[0] < WIFI_GONE_BOUND_S
    assert gap[0] < RESUME_BOUND_S


async def connected_count(page: Page) -> int:
    """How often the viewer reached "connected" (its connection log, last 50 states)."""
    count: int = await page.evaluate(
        "() => (window.mamoriConnectionLog || []).filter((e) => e.state === 'connected').length"
    )
    return count


TURN_TTL_S = 40  # MAMORI_TURN_CREDENTIAL_TTL_S, shortened (production: 300 s, at least 60)


async def test_a_sessions_turn_credential_is_refused_once_its_lifetime_is_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, display: tuple[XvfbDisplay, SampleApp]
) -> None:
    """The credential the agent got for a session, tried from the clinic after the session
    ended: coturn cannot know the session is over, so it still allocates until the
    credential's expiry (the window: the lifetime, 5 minutes by default, from the session's
    start), and refuses it (401) from then on. That is what is enforceable without a
    revocation channel into coturn."""
    found: dict[str, float] = {}

    async def after(topo: Topology, page: Page, world: ReachWorld, turn: TurnServer) -> None:
        live = world.agent.session
        assert live is not None
        server = next(s for s in live.start.ice_servers if s.username)
        assert server.username is not None
        assert server.credential is not None
        expiry = int(server.username.split(":")[0])
        await page.close()  # the doctor leaves: the session ends
        for _ in range(150):  # 15 s at most
            if world.agent.session is None:
                break
            await asyncio.sleep(0.1)
        assert world.agent.session is None, "the session did not end"
        user, password = server.username, server.credential
        inside = await allocate(topo, CLINIC, turn, user, password)
        assert inside["ok"], inside  # the window: before its expiry, still good
        found["window_s"] = expiry - time.time()
        deadline = time.monotonic() + TURN_TTL_S + 15
        while time.monotonic() < deadline:
            result = await allocate(topo, CLINIC, turn, user, password)
            if not result["ok"]:
                found["refused_after_expiry_s"] = time.time() - expiry
                assert result["error_code"] == 401, result
                return
            await asyncio.sleep(1)
        raise AssertionError("coturn still accepted the credential long after its expiry")

    await session(
        tmp_path, monkeypatch, display, then=after, unchecked={"turn_credential_ttl_s": TURN_TTL_S}
    )
    print(json.dumps({"turn_credential": found}))
    # coturn compares the expiry with its clock in whole seconds.
    assert found["refused_after_expiry_s"] >= -1

"""The link emulator between two real namespaces applies, to real ICMP, UDP and TCP, the
delay, loss, bursts, rate, queue and outages it is configured with, and changes them live.

Bounds: a released packet is never early, so round trips have a hard floor at the
configured delay; above it the tolerance covers the probes' own scheduling on a busy
2-core machine. Loss ratios use at least four standard deviations (figures in each test).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator

import pytest

from devkit.link_model import GilbertElliott, LinkConfig
from devkit.netns import Topology, build, probe_argv
from devkit.topology import Emulated, TopologySpec, Veth

pytestmark = pytest.mark.network

NEAR, FAR = "198.51.100.1", "198.51.100.2"
# Scheduling noise allowed above the configured round trip (median), on a loaded machine.
SLACK_MS = 5.0


def two_hosts(config: LinkConfig, seed: int = 7) -> TopologySpec:
    return TopologySpec(
        namespaces=("near", "far"),
        links=(
            Emulated("near", "emu0", f"{NEAR}/24", "far", "emu0", f"{FAR}/24", config, seed=seed),
        ),
    )


@pytest.fixture
async def link() -> AsyncIterator[Topology]:
    """``near`` and ``far`` joined by an emulated link, 30 ms each way, with UDP and TCP
    echo servers on ``far`` (port 9000)."""
    async with (
        build(two_hosts(LinkConfig(delay=0.030))) as topo,
        topo.process(
            "far", *probe_argv("udp-echo", "--bind", FAR, "--port", "9000", "--realtime")
        ) as udp,
        topo.process(
            "far", *probe_argv("tcp-echo", "--bind", FAR, "--port", "9000", "--realtime")
        ) as tcp,
    ):
        await udp.ready()
        await tcp.ready()
        yield topo


async def udp_ping(topo: Topology, count: int, interval: float = 0.02) -> dict[str, object]:
    return await topo.probe(
        "near",
        "udp-ping",
        "--to",
        FAR,
        "--port",
        "9000",
        "--count",
        str(count),
        "--interval",
        str(interval),
        "--timeout",
        "1",
        "--realtime",
    )


def rtts(result: dict[str, object]) -> list[float]:
    values = result["rtt_ms"]
    assert isinstance(values, list)
    return [float(v) for v in values]


async def test_delay_applies_to_icmp_udp_and_tcp(link: Topology) -> None:
    """30 ms each way: every ICMP, UDP and TCP round trip takes at least 60 ms, the median
    at most 60 ms plus scheduling noise."""
    icmp = await link.probe("near", "icmp-ping", "--to", FAR, "--count", "30", "--realtime")
    udp = await udp_ping(link, 30)
    tcp = await link.probe(
        "near", "tcp-ping", "--to", FAR, "--port", "9000", "--count", "30", "--realtime"
    )
    assert tcp["connected"]
    assert tcp["connect_ms"] >= 60.0
    for name, result in (("icmp", icmp), ("udp", udp), ("tcp", tcp)):
        values = rtts(result)
        assert len(values) == 30, name
        assert min(values) >= 60.0, name
        assert statistics.median(values) <= 60.0 + SLACK_MS, (name, values)


async def test_loss_ratio_and_counts_match_the_emulator(link: Topology) -> None:
    """10 % loss each way on 2,000 UDP round trips: 19 % ± 4 % of them fail (σ = 0.9 %),
    each direction drops 10 % ± 2.5 % (σ = 0.7 %), and what the probe saw matches the
    emulator's own counts packet for packet."""
    emulator = link.emulator("near", "far")
    await emulator.configure(LinkConfig(delay=0.005, loss=0.10))
    before = await emulator.stats()
    result = await udp_ping(link, 2_000, interval=0.002)
    after = await emulator.stats()
    forward = {k: after["a_to_b"][k] - before["a_to_b"][k] for k in ("offered", "lost")}
    back = {k: after["b_to_a"][k] - before["b_to_a"][k] for k in ("offered", "lost", "delivered")}
    assert result["sent"] == forward["offered"] == 2_000
    assert forward["lost"] / forward["offered"] == pytest.approx(0.10, abs=0.025)
    assert back["lost"] / back["offered"] == pytest.approx(0.10, abs=0.025)
    assert result["received"] == back["delivered"]
    assert result["loss"] == pytest.approx(1 - 0.9 * 0.9, abs=0.04)


async def test_bursty_loss_comes_in_bursts(link: Topology) -> None:
    """Gilbert–Elliott loss (10 %, bursts of 5) on the way out: the probes lost come in runs
    averaging 5 ± 1.5 (σ ≈ 0.3 over ~40 bursts), where random loss gives ~1.1."""
    emulator = link.emulator("near", "far")
    await emulator.configure(
        LinkConfig(delay=0.005, bursty=GilbertElliott.bursts(0.10, 5)), direction="a_to_b"
    )
    await emulator.configure(LinkConfig(delay=0.005), direction="b_to_a")
    result = await udp_ping(link, 2_000, interval=0.002)
    received = set(result["received_seqs"])
    runs, current = [], 0
    for seq in range(2_000):
        if seq in received:
            if current:
                runs.append(current)
            current = 0
        else:
            current += 1
    assert result["loss"] == pytest.approx(0.10, abs=0.05)
    assert statistics.mean(runs) == pytest.approx(5.0, abs=1.5)


async def test_changes_apply_mid_stream(link: Topology) -> None:
    """A running link goes from lossless to dropping everything one way and back, and its
    delay from 30 ms to 5 ms, without restarting."""
    emulator = link.emulator("near", "far")
    assert (await udp_ping(link, 20))["loss"] == 0
    await emulator.configure(LinkConfig(delay=0.030, loss=1.0), direction="b_to_a")
    assert (await udp_ping(link, 20))["received"] == 0
    await emulator.configure(LinkConfig(delay=0.005))
    fast = rtts(await udp_ping(link, 20))
    assert len(fast) == 20
    assert 10.0 <= statistics.median(fast) <= 10.0 + SLACK_MS


async def test_outage_drops_everything_then_recovers(link: Topology) -> None:
    """A 1 s outage in the middle of 3 s of pings every 20 ms: about 50 consecutive round
    trips fail (± 4 for the pings in flight and timing), then the link works again."""
    emulator = link.emulator("near", "far")
    await emulator.configure(LinkConfig(delay=0.002))
    start = (await emulator.stats())["a_to_b"]["offered"]
    ping = asyncio.create_task(udp_ping(link, 150, interval=0.02))
    # Start the outage once ~40 pings have gone out (the probe's own start-up varies).
    for _ in range(200):
        if (await emulator.stats())["a_to_b"]["offered"] - start >= 40:
            break
        await asyncio.sleep(0.02)
    await emulator.outage(1.0)
    result = await ping
    received = set(result["received_seqs"])
    lost = sorted(set(range(150)) - received)
    assert 46 <= len(lost) <= 54, lost
    assert lost == list(range(lost[0], lost[-1] + 1))  # one gap, nothing lost outside it
    assert 35 <= lost[0] <= 45, lost
    assert 149 in received


async def test_rate_limit_paces_tcp(link: Topology) -> None:
    """A 4 Mbit/s bottleneck (100 ms queue, 10 ms each way): 1.5 MB over TCP arrive at
    4 Mbit/s less header overhead, between 85 % and 101 % of the rate."""
    rate = 4_000_000
    await link.emulator("near", "far").configure(
        LinkConfig(delay=0.010, rate_bps=rate, queue_bytes=LinkConfig.queue_for(rate, 0.1))
    )
    async with link.process(
        "far", *probe_argv("tcp-sink", "--bind", FAR, "--port", "9100", "--lifetime", "30")
    ) as sink:
        await sink.ready()
        await link.probe(
            "near",
            "tcp-send",
            "--to",
            FAR,
            "--port",
            "9100",
            "--bytes",
            str(1_500_000),
            "--timeout",
            "20",
        )
        got = await sink.read_json()
    assert got["bytes"] == 1_500_000
    goodput = got["bytes"] * 8 / got["span_s"]
    assert 0.85 * rate <= goodput <= 1.01 * rate, goodput


async def test_bottleneck_queue_drops_the_excess(link: Topology) -> None:
    """4 Mbit/s of UDP into a 2 Mbit/s bottleneck with a 200 ms queue for 2 s: 2 Mbit/s
    ± 10 % comes out, the rest is dropped at the queue, and no packet waited over 200 ms."""
    rate = 2_000_000
    emulator = link.emulator("near", "far")
    await emulator.configure(
        LinkConfig(delay=0.010, rate_bps=rate, queue_bytes=LinkConfig.queue_for(rate, 0.2)),
        direction="a_to_b",
    )
    async with link.process(
        "far",
        *probe_argv("udp-sink", "--bind", FAR, "--port", "9200", "--lifetime", "15", "--gap", "1"),
    ) as sink:
        await sink.ready()
        sent = await link.probe(
            "near",
            "udp-blast",
            "--to",
            FAR,
            "--port",
            "9200",
            "--pps",
            "500",
            "--size",
            "972",
            "--seconds",
            "2",
        )
        got = await sink.read_json()
    stats = (await emulator.stats())["a_to_b"]
    wire_bits = got["received"] * (972 + 28) * 8  # with the IP and UDP headers
    assert sent["sent"] == 1_000
    assert wire_bits / got["span_s"] == pytest.approx(rate, rel=0.10)
    assert stats["queue_full"] == pytest.approx(500, abs=60)
    assert stats["max_queue_delay"] <= 0.200


async def test_emulator_overhead_is_small() -> None:
    """At 0 ms configured delay the emulator adds under 1 ms to a round trip over a plain
    veth pair between the same namespaces (measured ~0.13 ms), and it forwards 20,000
    full-size packets a second without loss (a video stream is ~800)."""
    spec = TopologySpec(
        namespaces=("near", "far"),
        links=(
            Emulated("near", "emu0", f"{NEAR}/24", "far", "emu0", f"{FAR}/24", LinkConfig()),
            Veth("near", "veth0", "192.0.2.1/24", "far", "veth0", "192.0.2.2/24"),
        ),
    )
    async with (
        build(spec) as topo,
        topo.process("far", *probe_argv("udp-echo", "--port", "9000", "--realtime")) as echo,
        topo.process(
            "far", *probe_argv("udp-sink", "--bind", FAR, "--port", "9001", "--realtime")
        ) as sink,
    ):
        await echo.ready()
        await sink.ready()
        medians = {}
        for to in ("192.0.2.2", FAR):
            result = await topo.probe(
                "near",
                "udp-ping",
                "--to",
                to,
                "--port",
                "9000",
                "--count",
                "200",
                "--interval",
                "0.005",
                "--realtime",
            )
            medians[to] = statistics.median(rtts(result))
        sent = await topo.probe(
            "near",
            "udp-blast",
            "--to",
            FAR,
            "--port",
            "9001",
            "--pps",
            "20000",
            "--size",
            "1200",
            "--seconds",
            "1",
            "--realtime",
        )
        got = await sink.read_json()
    assert medians[FAR] - medians["192.0.2.2"] < 1.0, medians
    assert got["received"] >= 0.99 * sent["sent"] == 0.99 * 20_000

"""The link emulator's sans-I/O core applies the loss, bursts, delay, rate, queue and outages
it is configured with.

Every statistical check uses seeded generators over several seeds and a bound of at least
four standard deviations of the quantity measured (the figure is in each test), tight
enough that a model off by a small factor (loss applied twice, a burst length off by one,
a rate off by 5 %) fails.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from devkit.link_model import (
    GilbertElliott,
    LinkConfig,
    LinkShaper,
    Verdict,
    config_from_json,
    config_to_json,
)

pytestmark = pytest.mark.unit

SEEDS = (1, 2, 3, 4, 5)
PACKET = bytes(100)


def loss_pattern(config: LinkConfig, seed: int, n: int) -> list[bool]:
    """Which of ``n`` packets, offered 1 ms apart, the link loses."""
    shaper = LinkShaper(config, random.Random(seed))
    return [shaper.offer(i * 0.001, PACKET) is Verdict.LOST for i in range(n)]


def bursts(pattern: list[bool]) -> list[int]:
    """The lengths of the runs of consecutive losses."""
    runs, current = [], 0
    for lost in pattern:
        if lost:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def loss_after_loss(pattern: list[bool]) -> float:
    """P(packet lost | the one before it was lost)."""
    after = [b for a, b in itertools.pairwise(pattern) if a]
    return sum(after) / len(after)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_loss_has_the_configured_ratio_and_no_memory(seed: int) -> None:
    """5 % Bernoulli loss over 100,000 packets: 5 % ± 0.3 % (σ = 0.07 %), losses independent."""
    pattern = loss_pattern(LinkConfig(loss=0.05), seed, 100_000)
    assert sum(pattern) / len(pattern) == pytest.approx(0.05, abs=0.003)
    # Independent: a loss after a loss is as likely as any loss (σ ≈ 0.1 % here).
    assert loss_after_loss(pattern) == pytest.approx(0.05, abs=0.02)
    assert statistics.mean(bursts(pattern)) == pytest.approx(1 / 0.95, abs=0.02)


@pytest.mark.parametrize("seed", SEEDS)
def test_gilbert_elliott_gives_the_mean_loss_and_burst_length(seed: int) -> None:
    """GE with 5 % mean loss in bursts of 4: loss 5 % ± 0.6 % (σ ≈ 0.13 % with the chain's
    memory), mean burst 4 ± 0.3 (σ ≈ 0.05), and a loss follows a loss 75 % of the time."""
    model = GilbertElliott.bursts(mean_loss=0.05, mean_burst=4)
    assert model.mean_loss == pytest.approx(0.05)
    pattern = loss_pattern(LinkConfig(bursty=model), seed, 200_000)
    assert sum(pattern) / len(pattern) == pytest.approx(0.05, abs=0.006)
    runs = bursts(pattern)
    assert statistics.mean(runs) == pytest.approx(4.0, abs=0.3)
    # Geometric burst lengths: P(burst >= 2) = 1 - r = 0.75 (σ ≈ 0.9 % over ~2,500 bursts).
    assert sum(run >= 2 for run in runs) / len(runs) == pytest.approx(0.75, abs=0.04)
    assert loss_after_loss(pattern) == pytest.approx(0.75, abs=0.03)


def test_gilbert_elliott_with_lossy_good_state() -> None:
    """A partly lossy good state and a partly lossy bad one give the mixture's loss."""
    model = GilbertElliott(p=0.02, r=0.2, loss_good=0.01, loss_bad=0.5)
    expected = (0.2 / 0.22) * 0.01 + (0.02 / 0.22) * 0.5
    assert model.mean_loss == pytest.approx(expected)
    for seed in SEEDS[:3]:
        pattern = loss_pattern(LinkConfig(bursty=model), seed, 200_000)
        # σ ≈ 0.1 % with the chain's memory; the bound is 0.5 %.
        assert sum(pattern) / len(pattern) == pytest.approx(expected, abs=0.005)


def test_fixed_delay_is_exact() -> None:
    """Without jitter every packet leaves exactly ``delay`` after it arrived."""
    shaper = LinkShaper(LinkConfig(delay=0.030), random.Random(1))
    for i in range(100):
        assert shaper.offer(i * 0.005, PACKET) is Verdict.QUEUED
    assert shaper.due(0.0299) == []
    released = shaper.due(10.0)
    assert [when for when, _ in released] == pytest.approx([i * 0.005 + 0.030 for i in range(100)])
    assert shaper.next_due() is None


@pytest.mark.parametrize("seed", SEEDS)
def test_jitter_stays_in_its_band_and_keeps_order(seed: int) -> None:
    """30 ± 5 ms: every delay within [25, 35] ms, packets leave in the order they came."""
    shaper = LinkShaper(LinkConfig(delay=0.030, jitter=0.005), random.Random(seed))
    arrivals = [i * 0.001 for i in range(5_000)]
    for t in arrivals:
        shaper.offer(t, t.hex().encode())
    released = shaper.due(100.0)
    assert [float.fromhex(p.decode()) for _, p in released] == arrivals
    delays = [when - float.fromhex(p.decode()) for when, p in released]
    assert min(delays) >= 0.025 - 1e-9
    assert max(delays) <= 0.035 + 1e-9
    assert statistics.mean(delays) > 0.030  # waiting for the packet ahead only adds


@pytest.mark.parametrize("seed", SEEDS)
def test_jitter_with_reordering_is_uniform_around_the_delay(seed: int) -> None:
    """With reordering allowed the delay is uniform on 30 ± 5 ms: mean 30 ms ± 0.15 ms
    (σ = 0.04 ms over 5,000 packets), standard deviation 10/√12 ms ± 0.15 ms."""
    shaper = LinkShaper(LinkConfig(delay=0.030, jitter=0.005, reorder=True), random.Random(seed))
    for i in range(5_000):
        shaper.offer(i * 0.001, (i * 0.001).hex().encode())
    delays = [when - float.fromhex(p.decode()) for when, p in shaper.due(100.0)]
    assert statistics.mean(delays) == pytest.approx(0.030, abs=0.000_15)
    assert statistics.pstdev(delays) == pytest.approx(0.010 / math.sqrt(12), abs=0.000_15)
    assert [d for d in delays if not 0.025 - 1e-9 <= d <= 0.035 + 1e-9] == []


def test_rate_limit_serializes_at_the_configured_rate() -> None:
    """1,000 packets of 1,250 bytes offered at once to 1 Mbit/s leave 10 ms apart."""
    config = LinkConfig(delay=0.020, rate_bps=1_000_000, queue_bytes=10_000_000)
    shaper = LinkShaper(config, random.Random(1))
    for _ in range(1_000):
        assert shaper.offer(0.0, bytes(1_250)) is Verdict.QUEUED
    times = [when for when, _ in shaper.due(100.0)]
    assert times[0] == pytest.approx(0.010 + 0.020)
    assert times[-1] == pytest.approx(10.0 + 0.020)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(0.010)
    assert max(gaps) == pytest.approx(0.010)


def test_bottleneck_drops_tail_and_bounds_the_queue() -> None:
    """4 Mbit/s offered to a 2 Mbit/s link with a 200 ms queue for 10 s: 2 Mbit/s ± 1 %
    comes out, no packet waits longer than 200 ms, about half are dropped at the tail."""
    rate = 2_000_000
    config = LinkConfig(rate_bps=rate, queue_bytes=LinkConfig.queue_for(rate, 0.200))
    shaper = LinkShaper(config, random.Random(1))
    verdicts = [shaper.offer(i * 0.002, bytes(1_000)) for i in range(5_000)]  # 4 Mbit/s
    released = shaper.due(20.0)
    assert shaper.stats.max_queue_delay <= 0.200
    last = released[-1][0]
    assert last <= 10.0 + 0.200 + 0.004
    delivered_bits = sum(len(p) for _, p in released) * 8
    # Measured from the first release to the last: the wire was busy all along.
    first = released[0][0]
    assert delivered_bits / (last - first + 0.004) == pytest.approx(rate, rel=0.01)
    assert verdicts.count(Verdict.QUEUE_FULL) / len(verdicts) == pytest.approx(0.5, abs=0.02)
    assert shaper.stats.queue_full == verdicts.count(Verdict.QUEUE_FULL)


def test_mean_queue_delay_counts_only_the_wait_for_the_wire() -> None:
    """A burst of 10 packets of 1,000 B at 8 Mbit/s (1 ms each on the wire): the n-th waits
    n ms, so their mean wait is 4.5 ms; a packet offered once the wire is free waits none."""
    config = LinkConfig(delay=0.030, rate_bps=8_000_000, queue_bytes=100_000)
    shaper = LinkShaper(config, random.Random(1))
    for _ in range(10):
        assert shaper.offer(0.0, bytes(1_000)) is Verdict.QUEUED
    assert shaper.stats.queued == 10
    assert shaper.stats.queue_delay_sum / shaper.stats.queued == pytest.approx(0.0045)
    assert shaper.offer(1.0, bytes(1_000)) is Verdict.QUEUED
    assert shaper.stats.queued == 11
    assert shaper.stats.queue_delay_sum == pytest.approx(0.045)


def test_queue_delay_under_the_bottleneck_plus_delay() -> None:
    """A packet's time in the link is its queueing + serialization + propagation delay."""
    config = LinkConfig(delay=0.030, rate_bps=8_000_000, queue_bytes=100_000)
    shaper = LinkShaper(config, random.Random(1))
    shaper.offer(0.0, bytes(10_000))  # 10 ms on the wire
    shaper.offer(0.0, bytes(1_000))  # waits 10 ms, then 1 ms on the wire
    (t1, _), (t2, _) = shaper.due(1.0)
    assert t1 == pytest.approx(0.010 + 0.030)
    assert t2 == pytest.approx(0.011 + 0.030)


def test_outage_drops_arrivals_for_its_duration() -> None:
    """An outage of 2 s from t = 1 s drops what arrives in [1, 3), nothing else."""
    shaper = LinkShaper(LinkConfig(delay=0.010), random.Random(1))
    shaper.outage(1.0, 2.0)
    verdicts = {t / 10: shaper.offer(t / 10, PACKET) for t in range(0, 50)}
    assert {t for t, v in verdicts.items() if v is Verdict.OUTAGE} == {
        t / 10 for t in range(10, 30)
    }
    assert shaper.stats.outage == 20


def test_outage_until_restored() -> None:
    """An open-ended outage lasts until ``restore``."""
    shaper = LinkShaper(LinkConfig(), random.Random(1))
    shaper.outage(0.0, None)
    assert shaper.offer(1_000.0, PACKET) is Verdict.OUTAGE
    shaper.restore()
    assert shaper.offer(1_000.0, PACKET) is Verdict.QUEUED


@pytest.mark.parametrize("seed", SEEDS)
def test_reconfiguring_changes_loss_from_then_on(seed: int) -> None:
    """Lossless for 10,000 packets, then 30 % loss: none lost before, 30 % ± 2 % after
    (σ = 0.46 %); packets accepted before the change keep their delay."""
    shaper = LinkShaper(LinkConfig(delay=0.050), random.Random(seed))
    before = [shaper.offer(i * 0.001, PACKET) for i in range(10_000)]
    shaper.configure(LinkConfig(delay=0.010, loss=0.3))
    after = [shaper.offer(10 + i * 0.001, PACKET) for i in range(10_000)]
    assert Verdict.LOST not in before
    assert after.count(Verdict.LOST) / len(after) == pytest.approx(0.3, abs=0.02)
    assert shaper.due(10.0495)[-1][0] == pytest.approx(9.999 + 0.050)


def test_stats_count_every_packet_once() -> None:
    """Offered = delivered + lost + queue-full + outage once everything has left."""
    shaper = LinkShaper(
        LinkConfig(loss=0.1, rate_bps=1_000_000, queue_bytes=5_000), random.Random(9)
    )
    shaper.outage(0.5, 0.5)
    for i in range(2_000):
        shaper.offer(i * 0.000_5, bytes(500))
    shaper.due(100.0)
    s = shaper.stats
    assert s.offered == s.delivered + s.lost + s.queue_full + s.outage
    assert min(s.lost, s.queue_full, s.outage, s.delivered) > 0


def test_config_round_trips_through_json() -> None:
    """The control channel's form of a config gives back the same config."""
    for config in (
        LinkConfig(),
        LinkConfig(delay=0.03, jitter=0.002, loss=0.05, rate_bps=2e6, queue_bytes=50_000),
        LinkConfig(bursty=GilbertElliott.bursts(0.1, 3), reorder=True),
    ):
        assert config_from_json(config_to_json(config)) == config


@pytest.mark.parametrize(
    "bad",
    [
        {"delay": 0.03},
        {**config_to_json(LinkConfig()), "loss": 1.5},
        {**config_to_json(LinkConfig()), "delay": "30ms"},
        {**config_to_json(LinkConfig()), "reorder": 1},
        {**config_to_json(LinkConfig()), "bursty": {"p": 0.1}},
        {**config_to_json(LinkConfig()), "rate_bps": 0},
        {
            **config_to_json(LinkConfig()),
            "loss": 0.1,
            "bursty": {"p": 0.1, "r": 0.5, "loss_good": 0, "loss_bad": 1},
        },
    ],
)
def test_invalid_configs_are_refused(bad: dict[str, object]) -> None:
    """Unknown keys, wrong types and impossible values raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails for its own reason
        config_from_json(bad)

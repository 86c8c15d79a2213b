"""Arithmetic of the set-up and sign-in benchmark (``bench.setups``): a run's rate over its
window, the median of runs, the ratio to one replica's figure, where each client's agent
and viewer are placed among the replicas, and a README table row. Pure, so it is tested
apart (tests/bench/test_rates.py)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def rate(finishes: Sequence[float], start: float, deadline: float, ran_out: bool = False) -> float:
    """Completions per second that finished in (``start``, ``deadline``].

    ``ran_out``: the clients had nothing left to do before the deadline (each sign-in spends
    a person of a pool, since a TOTP step is single-use); the window then ends at the last
    completion, or the idle time after it would be counted as if the broker were slow.
    """
    end = deadline
    if ran_out and finishes:
        end = min(deadline, max(finishes))
    if end <= start:
        raise ValueError(f"an empty window ({start} to {end})")
    done = sum(1 for t in finishes if start < t <= end)
    return done / (end - start)


def ratio(value: float, reference: float) -> float | None:
    """``value`` as a multiple of ``reference`` (one replica's figure); None without one."""
    return value / reference if reference else None


def placement(index: int, replicas: int) -> tuple[int, int]:
    """(replica holding client ``index``'s agent, replica its viewer uses).

    Viewers alternate (a load balancer's round robin), agents go in pairs: over every
    2 x ``replicas`` clients each replica holds as many agents as viewers, and on two
    replicas half the viewers reach an agent held by the other one (their join and
    signaling routed through Redis), as a load balancer that knows nothing of agents makes
    happen."""
    return (index // replicas) % replicas, index % replicas


@dataclass(frozen=True)
class Figure:
    """One configuration's runs and their median."""

    runs: tuple[float, ...]

    @classmethod
    def of(cls, runs: Sequence[float]) -> Figure:
        if not runs:
            raise ValueError("no runs")
        return cls(tuple(runs))

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def per_core(per_s: float, cores: float) -> float | None:
    """Work per CPU second the brokers used (``cores``: their CPU seconds over the window's
    seconds). On a machine shared with other work the brokers get what the scheduler
    leaves them; this figure moves least with that."""
    return per_s / cores if cores > 0 else None


def row(name: str, figures: Sequence[tuple[Figure, Figure | None]]) -> str:
    """A Markdown table row: the name, then for each (figure, reference) its median (each
    run) and its ratio to the reference's median ("-" without one)."""
    cells = [name]
    for figure, reference in figures:
        runs = ", ".join(f"{r:.1f}" for r in figure.runs)
        share = ratio(figure.median, reference.median) if reference else None
        cells += [f"**{figure.median:.1f}** ({runs})", "-" if share is None else f"{share:.2f}"]
    return "| " + " | ".join(cells) + " |"

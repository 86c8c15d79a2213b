"""Record what the agent's congestion control saw on a real link, for replay in unit tests.

    python -m devkit.cc_recorder TRACE.jsonl -- <host_agent arguments>

Runs the host agent in this process with its ``CongestionController`` observed: every
packet handed a transport-wide number (send time, size) and every transport-cc report as
it arrived (receive time, the raw RTCP bytes, the round trip the controller used), one
JSON object a line, flushed as it goes (the agent is stopped with a signal). A line
``{"session": n, "t": start, "max": bit/s}`` starts each new peer connection's controller
(its estimator's start time and bound). Times are the agent's
``time.monotonic()``.

The bench's lossy-link runs take ``--record-cc`` (``bench/lossy_stream.py``) and
``tests/host_agent/test_recorded_feedback.py`` replays the traces kept in
``tests/host_agent/traces/`` through ``SentPackets`` and ``BandwidthEstimator``: the
estimator's decisions depend only on these inputs, so a replay reproduces what it decided
on the link, with Chromium's real feedback timing, granularity and loss reports, where
``tests/host_agent/cc_link.py`` only synthesises them. Not shipped: nothing in the agent
imports this.
"""

from __future__ import annotations

import base64
import gzip
import json
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from host_agent.webrtc import congestion_control, transport_cc


def record_into(out: IO[str]) -> None:
    """Observe every congestion controller made from now on, writing to ``out``."""
    sessions = 0
    original_init = congestion_control.CongestionController.__init__
    original_feedback = congestion_control.CongestionController.on_feedback
    original_next = transport_cc.SentPackets.next_sequence

    def write(record: dict[str, Any]) -> None:
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.flush()

    def init(self: congestion_control.CongestionController, *args: Any, **kwargs: Any) -> None:
        nonlocal sessions
        original_init(self, *args, **kwargs)
        sessions += 1
        # The estimator's start (its clock and bound): a replay starts where it did.
        start = round(self._logged_at, 6)
        write({"session": sessions, "t": start, "max": self.estimator.max_bitrate})

    def on_feedback(self: congestion_control.CongestionController, packet: bytes) -> None:
        rtt = self._round_trip()
        write({"f": round(self._clock(), 6), "p": base64.b64encode(packet).decode(), "rtt": rtt})
        original_feedback(self, packet)

    def next_sequence(self: transport_cc.SentPackets, now: float, size: int) -> int:
        write({"s": round(now, 6), "n": size})
        return original_next(self, now, size)

    congestion_control.CongestionController.__init__ = init  # type: ignore[method-assign]
    congestion_control.CongestionController.on_feedback = on_feedback  # type: ignore[method-assign]
    transport_cc.SentPackets.next_sequence = next_sequence  # type: ignore[method-assign]


@dataclass
class Session:
    """One peer connection's controller: its estimator's start time and bound, and its
    events in order: ("s", time, size) or ("f", time, bytes, rtt)."""

    start: float
    max_bitrate: int
    events: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def sends(self) -> int:
        return sum(1 for e in self.events if e[0] == "s")


def read_trace(path: Path) -> list[Session]:
    """The sessions of a trace file (``.jsonl`` or ``.jsonl.gz``); a cut last line is
    dropped (the recorder is stopped by a signal)."""
    opener = gzip.open if path.suffix == ".gz" else open
    sessions: list[Session] = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in _complete(lines):
            record = json.loads(line)
            if "session" in record:
                sessions.append(Session(float(record["t"]), int(record["max"])))
            elif not sessions:
                raise ValueError(f"{path}: an event before any session")
            elif "s" in record:
                sessions[-1].events.append(("s", float(record["s"]), int(record["n"])))
            else:
                rtt = record["rtt"]
                packet = base64.b64decode(record["p"], validate=True)
                sessions[-1].events.append(("f", float(record["f"]), packet, rtt))
    return sessions


def _complete(lines: IO[str]) -> Iterator[str]:
    for line in lines:
        if line.endswith("\n"):
            yield line


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[1] != "--":
        usage = "usage: python -m devkit.cc_recorder TRACE.jsonl -- <host_agent args>"
        print(usage, file=sys.stderr)
        return 2
    out = Path(argv[0]).open("w", encoding="utf-8")  # noqa: SIM115 (open for the whole run)
    record_into(out)
    # The bench stops the agent with SIGTERM: leave through Python so the file is closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from host_agent.__main__ import main as agent_main

    try:
        return agent_main(argv[2:])
    finally:
        out.close()


if __name__ == "__main__":
    sys.exit(main())

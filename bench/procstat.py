"""CPU time of processes and process trees, read from /proc (Linux).

A figure is the CPU time a group of processes used during a window divided by the window's
length: 100 % is one core fully busy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after its ")" is fixed.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        ppid = parent_of(int(name))
        if ppid is not None:
            children.setdefault(ppid, []).append(int(name))
    found = [root]
    queue = [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def find_by_cmdline(fragment: str) -> list[int]:
    """Processes whose command line contains ``fragment``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmdline:
            out.append(int(name))
    return out


@dataclass
class CpuWindow:
    """CPU use of named process groups between ``start()`` and ``stop()``."""

    groups: dict[str, list[int]]
    _start: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = {name: self._total(pids) for name, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        """Percent of one core per group over the window."""
        elapsed = time.monotonic() - self._t0
        return {
            name: round(100 * (self._total(pids) - self._start[name]) / elapsed, 1)
            for name, pids in self.groups.items()
        }

    @staticmethod
    def _total(pids: Iterable[int]) -> float:
        return sum(cpu_seconds(pid) for pid in pids)

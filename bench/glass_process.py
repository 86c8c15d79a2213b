"""The glass (``bench/glass.py``) as a process the benches drive: started on a display, told
what to show line by line, stopped, and its paint log read back (``metrics.read_paints``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import metrics
from devkit.display import XvfbDisplay


@dataclass
class Glass:
    """The glass process on a display; commands in, answers out."""

    proc: subprocess.Popen[str]
    log_path: Path
    geometry: dict[str, Any]

    @classmethod
    async def start(cls, display: XvfbDisplay, log_path: Path) -> Glass:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.glass", "--log", str(log_path)],
            env=display.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        line = await asyncio.wait_for(asyncio.to_thread(_readline, proc), 30)
        if not line.startswith("ready "):
            raise RuntimeError(f"glass did not start: {line!r}")
        return cls(proc, log_path, json.loads(line[len("ready ") :]))

    async def command(self, text: str, expect: str | None = None) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        if expect is None:
            return ""
        line = await asyncio.wait_for(asyncio.to_thread(_readline, self.proc), 10)
        if not line.startswith(expect):
            raise RuntimeError(f"glass answered {line!r} to {text!r}")
        return line

    def stop(self) -> metrics.Paints:
        if self.proc.poll() is None:
            with _suppress_broken_pipe():
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return metrics.read_paints(self.log_path.read_text(encoding="ascii"))


def _readline(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


class _suppress_broken_pipe:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, tb: object) -> bool:
        return isinstance(value, BrokenPipeError | OSError)

"""A real broker as its own process (``python -m broker serve``), for what an in-process broker
cannot show: a SIGKILL and a restart on the same ports, and the process's own memory.

The environment is the production one (``MAMORI_*``); the ports are discovered from
uvicorn's "running on" lines, so a first start may use port 0 and a restart the ports the
first one got (agents dial the same URL again).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from certs.authority import ServerFiles

ROOT: Final = Path(__file__).resolve().parents[1]
_RUNNING: Final = re.compile(r"Uvicorn running on https://[^:]+:(\d+)")
_PAGE_KB: Final = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class BrokerProcess:
    process: asyncio.subprocess.Process
    port: int
    agent_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye to anyone."""
        self.process.kill()


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` now, in KiB (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_KB


def production_settings(
    server: ServerFiles, database_url: str, data_dir: Path, secret_key: str
) -> dict[str, str]:
    """The MAMORI_* settings of a production broker on ``database_url`` (see ``broker_env``
    for the addresses)."""
    return {
        "MAMORI_ENV": "production",
        "MAMORI_SECRET_KEY": secret_key,
        "MAMORI_TLS_CERT": str(server.server_cert),
        "MAMORI_TLS_KEY": str(server.server_key),
        "MAMORI_DATABASE_URL": database_url,
        "MAMORI_DATA_DIR": str(data_dir),
    }


def broker_env(base: dict[str, str], port: int = 0, agent_port: int = 0) -> dict[str, str]:
    """``base`` (MAMORI_* settings) over this process's environment without its own
    MAMORI_* variables, listening on ``port`` and ``agent_port`` of 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    env.update(base)
    env.update(
        {"MAMORI_HOST": "127.0.0.1", "MAMORI_PORT": str(port), "MAMORI_AGENT_PORT": str(agent_port)}
    )
    return env


@contextlib.asynccontextmanager
async def broker_process(
    env: dict[str, str], log_file: Path, start_timeout_s: float = 60, root: Path = ROOT
) -> AsyncIterator[BrokerProcess]:
    """A broker started with ``env`` (see ``broker_env``; its log level must let uvicorn's
    "running on" lines through), yielded once both ports listen; killed on exit if still
    running. Its log is appended to ``log_file``. ``root`` is the checkout it runs from (a
    benchmark compares another one's code)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker", "serve", cwd=root, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    copier: asyncio.Task[None] | None = None
    log = log_file.open("ab")
    try:
        if process.stderr is None:
            raise RuntimeError("no stderr pipe")
        ports: list[int] = []
        async with asyncio.timeout(start_timeout_s):
            while len(ports) < 2:  # the browser port, then the agent port
                line = await process.stderr.readline()
                if not line:
                    raise RuntimeError(f"the broker exited before it listened (see {log_file})")
                log.write(line)
                if found := _RUNNING.search(line.decode(errors="replace")):
                    ports.append(int(found.group(1)))
        copier = asyncio.create_task(_copy(process.stderr, log))
        yield BrokerProcess(process, ports[0], ports[1])
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        if copier is not None:
            await copier
        else:
            log.close()


async def _copy(stream: asyncio.StreamReader, log: BinaryIO) -> None:
    """Keep the broker's stderr pipe from filling (a blocked write would stall it)."""
    try:
        while chunk := await stream.read(65536):
            log.write(chunk)
    finally:
        log.close()

"""An asyncio event loop whose thread lives in a test namespace, for code that tests run
in-process (a broker, an aiortc agent or viewer) but that must sit inside a topology.

A socket belongs to the network namespace of the thread that creates it. This thread
enters the namespace (``setns``) before it starts its loop, so every socket that loop
creates — servers, clients, ICE candidates — is inside it, while the test's own thread
stays in the machine's namespace. Coroutines are handed over with ``run``:

    async with namespace_loop(topo.netns("internet")) as internet:
        broker = await internet.run(start_broker())          # listens inside "internet"
        ...
        await internet.run(stop_broker(broker))

Objects made on that loop belong to it: await their coroutines through ``run`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


class NamespaceLoopError(RuntimeError):
    """The thread could not enter the namespace, or its loop is not running."""


def enter_netns(name: str) -> None:
    """Move the calling thread (only it) into the named network namespace."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns = getattr(os, "setns", None)  # Python 3.12+
        if setns is not None:
            setns(fd, CLONE_NEWNET)
            return
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class NamespaceLoop:
    """A loop running in a thread inside namespace ``name`` (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name=f"netns:{name}", daemon=True)

    def _main(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()

        try:
            enter_netns(self.name)
            asyncio.run(serve())
        except BaseException as exc:  # reported to the caller by start()
            self._error = exc
            self._ready.set()

    async def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        ready = await asyncio.to_thread(self._ready.wait, timeout)
        if not ready or self.loop is None:
            raise NamespaceLoopError(f"no loop in {self.name}: {self._error!r}")

    async def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run ``coro`` on the namespace's loop; its result (or exception) here."""
        if self.loop is None or not self._thread.is_alive():
            coro.close()
            raise NamespaceLoopError(f"the loop in {self.name} is not running")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        """End the loop (cancelling what still runs on it) and the thread."""
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():
            raise NamespaceLoopError(f"the loop in {self.name} did not stop in {timeout} s")


@contextlib.asynccontextmanager
async def namespace_loop(name: str) -> AsyncIterator[NamespaceLoop]:
    """A ``NamespaceLoop`` in namespace ``name``, stopped when the block ends."""
    loop = NamespaceLoop(name)
    await loop.start()
    try:
        yield loop
    finally:
        await loop.stop()

"""Presence keys: ``mamori:agent:<org>:<host>`` names the replica holding that agent's link,
with a TTL, so a replica that dies stops claiming its agents within the TTL without anyone
cleaning up after it (DESIGN.md: presence keys with a TTL, a channel per replica).

A replica announces an agent when its link is registered, refreshes all its agents every
third of the TTL, and withdraws one when its link closes; a withdrawal deletes the key only if
it still names this replica (atomically, in Redis), since the agent may already have
reconnected to another one, whose claim must stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Final

from redis.asyncio import Redis

log = logging.getLogger(__name__)

PREFIX: Final = "mamori:agent:"
DEFAULT_TTL_S: Final = 30
# Compare-and-delete: only the claim's owner may withdraw it.
_WITHDRAW: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def key_of(org_id: int, host_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}{org_id}:{host_id}"


class Presence:
    """This replica's claims on agents, in Redis."""

    def __init__(
        self, redis: Redis, replica: str, ttl_s: int = DEFAULT_TTL_S, prefix: str = PREFIX
    ) -> None:
        self.redis = redis
        self.replica = replica
        self.ttl_s = ttl_s
        self._prefix = prefix

    async def announce(self, org_id: int, host_id: str) -> None:
        await self.redis.set(key_of(org_id, host_id, self._prefix), self.replica, ex=self.ttl_s)

    async def refresh(self, hosts: Iterable[tuple[int, str]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for org_id, host_id in hosts:
                pipe.set(key_of(org_id, host_id, self._prefix), self.replica, ex=self.ttl_s)
            await pipe.execute()

    async def withdraw(self, org_id: int, host_id: str) -> bool:
        """Drop this replica's claim; False if another replica holds the agent now."""
        done = await self.redis.eval(
            _WITHDRAW, 1, key_of(org_id, host_id, self._prefix), self.replica
        )
        return bool(done)

    async def where(self, org_id: int, host_id: str) -> str | None:
        """The replica holding the agent, or None (offline, or its replica died a TTL ago)."""
        value = await self.redis.get(key_of(org_id, host_id, self._prefix))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def keep_fresh(self, hosts: Callable[[], Iterable[tuple[int, str]]]) -> None:
        """Refresh every claim each third of the TTL, forever (cancelled at shutdown)."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.refresh(list(hosts()))
            except Exception:  # Redis away: claims lapse, readiness says so; retry
                log.warning("presence refresh failed; trying again", exc_info=True)


async def close(redis: Redis) -> None:
    with contextlib.suppress(Exception):
        await redis.aclose()

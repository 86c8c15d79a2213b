"""Redis pub/sub between replicas: this replica's own channel and the broadcast channel.

Why pub/sub and how loss is handled. Redis drops a pub/sub message only for a subscriber
that is not connected at that instant (its link broke, or Redis cut it for an overfull
output buffer); a connected subscriber gets every message, in order. So:

- a routed message to a replica nobody listens for (``publish`` answers 0 receivers) is a
  failure the sender sees at once: a join is refused ``unavailable``, a viewer's frame ends
  its session (fail closed, never a session half-routed);
- a join waits for its reply a bounded time (``JOIN_TIMEOUT_S``); no reply: refused, and a
  session the far side did open finds its viewer unknown here (``gone``) and ends;
- offers and candidates need no ack: a lost one leaves the peer connection unconnected, and
  the page's own connect timeout fails it and retries as on any network fault;
- a subscriber whose link to Redis broke may have missed a decision (a revoked device, a
  sign-out): once it is subscribed again it calls ``on_resubscribed``, and the routing then
  re-checks every session it holds against the database and ends what no longer holds, and
  closes the viewers it was routing (their pages reconnect). A decision is never lost
  silently, only applied late by at most the reconnect time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from broker.replicas import wire

log = logging.getLogger(__name__)

BROADCAST: Final = "mamori:replicas"
_OWN_PREFIX: Final = "mamori:replica:"
RECONNECT_S: Final = 0.5


def channel_of(replica: str) -> str:
    return f"{_OWN_PREFIX}{replica}"


Handler = Callable[[wire.Message], Awaitable[None]]


class Bus:
    """Publishes to other replicas; ``listen`` hands what arrives for this one to a handler."""

    def __init__(self, redis: Redis, replica: str) -> None:
        self.redis = redis
        self.replica = replica
        self.subscribed = asyncio.Event()

    async def to_replica(self, replica: str, op: str, **values: object) -> bool:
        """Send to one replica; False if none listens there (dead, or Redis away)."""
        try:
            text = wire.encode(op, self.replica, **values)
            receivers = await self.redis.publish(channel_of(replica), text)
        except Exception as exc:
            log.warning("routed %s to %s not sent: %s", op, replica, type(exc).__name__)
            return False
        return bool(receivers)

    async def to_all(self, op: str, **values: object) -> None:
        """Broadcast; the sender has already applied it to what it holds itself."""
        try:
            text = wire.encode(op, self.replica, **values)
            await self.redis.publish(BROADCAST, text)
        except Exception as exc:
            # Redis is away, so every replica's subscription broke too: each re-checks
            # what it holds against the database once it is subscribed again (the
            # decision is there already), and agent links are re-checked periodically.
            # An admin's end of a session is not in the database: the console still
            # lists the session, and the admin ends it again.
            log.warning("broadcast %s not sent: %s", op, type(exc).__name__)

    async def listen(
        self, handler: Handler, on_resubscribed: Callable[[], Awaitable[None]]
    ) -> None:
        """Forever (cancelled at shutdown): subscribe, hand each message on, and come back
        after any break."""
        first = True
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel_of(self.replica), BROADCAST)
                    self.subscribed.set()
                    if not first:
                        await on_resubscribed()
                    first = False
                    await self._pump(pubsub, handler)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("replica bus broke (%s); subscribing again", type(exc).__name__)
                first = False
                await asyncio.sleep(RECONNECT_S)

    async def _pump(self, pubsub: PubSub, handler: Handler) -> None:
        async for item in pubsub.listen():
            if item.get("type") != "message":
                continue
            try:
                message = wire.parse(item["data"])
            except wire.WireError as exc:
                log.warning("replica message dropped: %s", exc)
                continue
            if message.sender == self.replica and item.get("channel") in (
                BROADCAST,
                BROADCAST.encode(),
            ):
                continue  # applied here before it was sent
            try:
                await handler(message)
            except Exception:
                log.exception("replica message %s from %s failed", message.op, message.sender)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

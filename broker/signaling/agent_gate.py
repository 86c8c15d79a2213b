"""How many agent handshakes may be in progress at once, decided before any database work.

A broker restart makes a whole fleet of agents reconnect within seconds. Each handshake
checks a certificate and writes the host's record; unbounded, they queued on the database
pool until agents timed out and retried on top of the queue (issue 18: 2,000 agents never
came back). The agent port counts this gate in its own bound and keeps connections past it
parked before TLS (``broker.server.agent_tls``), so an agent rarely gets here with the
gate full; one that does is answered 503 with a Retry-After at once, costing nothing but
the TLS handshake already done; the agent comes back after that, jittered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# The ASGI scope extension under which the agent port passes a connection's handshake slot
# (held since its TLS handshake began: broker.server.agent_tls) to ``/ws/agent``.
SLOT_EXTENSION: Final = "mamori.handshake_slot"


@dataclass
class HandshakeGate:
    """A counter, not a queue: a refused agent waits on its side, not in our memory."""

    limit: int
    in_progress: int = 0
    refused: int = 0
    # Called when a slot frees: the agent port starts a parked connection's handshake
    # (broker.server.agent_tls), so the next agent takes the slot without a 503.
    on_leave: Callable[[], None] | None = None

    def try_enter(self) -> bool:
        """Take a slot; False (counted) when all are taken."""
        if self.in_progress >= self.limit:
            self.refused += 1
            return False
        self.in_progress += 1
        return True

    def leave(self) -> None:
        self.in_progress = max(0, self.in_progress - 1)
        if self.on_leave is not None:
            self.on_leave()

"""Live agent links are re-checked against their certificates every ``agent_recheck_s``.

A revocation through the console ends the link at once; this catches a revocation made with
the CLI (another process) and a certificate that runs out while its link is up. Each round
first reloads, in two queries, the CAs (a clinic created by another replica) and the
certificate status handshakes are authenticated from (``broker.agents.status``); a link whose
certificate is still good there costs no query.
"""

from __future__ import annotations

import asyncio
import logging

from broker.agents.ca import AgentAuthority
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from broker.signaling.relay import Relay

log = logging.getLogger(__name__)


async def recheck(relay: Relay, authority: AgentAuthority, db: Database, clock: Clock) -> int:
    """Disconnect every live agent whose certificate no longer holds; how many."""
    now = clock.now()
    cut = []
    async with db.session() as s:
        await authority.load(s)
        await authority.status.reload(s, now)
        for link in relay.agents():
            if authority.status.get(link.org_id, link.certificate_serial, now) is not None:
                continue
            problem = await authority.problem(s, link.org_id, link.certificate_serial, now)
            if problem is None:
                continue
            cut.append((link, problem))
            record(
                s,
                Actor("broker", name=f"agent:{link.host_id}"),
                Event.AGENT_REFUSED,
                Outcome.DENIED,
                now,
                org_id=link.org_id,
                detail=f"reason={problem} host={link.host_id} serial={link.certificate_serial} "
                "disconnected",
            )
        await s.commit()
    for link, problem in cut:
        await relay.disconnect(link, f"certificate {problem}")
    return len(cut)


async def watch(
    relay: Relay, authority: AgentAuthority, db: Database, clock: Clock, interval_s: float
) -> None:
    """Run ``recheck`` forever (cancelled when the agent port stops)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await recheck(relay, authority, db, clock)
        except Exception:
            log.exception("agent link recheck failed; trying again next round")


async def cut_revoked(relay: Relay, org_id: int, host_id: str, serials: list[str]) -> bool:
    """End the live link of ``host_id`` if it authenticated with one of ``serials`` (on
    whichever replica holds it: ``Relay.elsewhere``)."""
    await relay.elsewhere("cut_certs", org=org_id, host=host_id, serials=list(serials))
    link = relay.agent(org_id, host_id)
    if link is None or link.certificate_serial not in serials:
        return False
    await relay.disconnect(link, "certificate revoked")
    return True

"""The status of agent certificates in memory: which ones are good, so a handshake is
authenticated without a database query.

A restarted broker met by its whole fleet at once used to query (and queue on the database
pool) once per handshake (issue 18). The cache holds every certificate the database says is
neither revoked nor expired, loaded in one query at start and again every
``MAMORI_AGENT_RECHECK_S``; a certificate it does not hold (issued since by another process)
is looked up in the database as before. It is trusted because it only ever says "good" for a
certificate that was good at the last load and fails closed:

- a revocation through this process drops the entry at once (``forget``), and any lookup or
  reload that overlapped it is not kept (the ``generation`` check), so a read from before the
  revocation committed can never put the entry back;
- a revocation by another process (the CLI, another replica) takes effect at the next reload,
  within ``MAMORI_AGENT_RECHECK_S``: the same bound that already applied to live links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import AgentCertificate


@dataclass(frozen=True)
class GoodCertificate:
    """What a handshake compares against the record (host, key) and its end."""

    host_id: str
    spki_sha256: str
    not_after: datetime


class CertificateStatus:
    """Good certificates by (organization, hex serial)."""

    def __init__(self) -> None:
        self._good: dict[tuple[int, str], GoodCertificate] = {}
        # Bumped by every revocation: a read that began before one is not kept.
        self.generation = 0
        self.loaded = False

    def __len__(self) -> int:
        return len(self._good)

    def get(self, org_id: int, serial: str, now: datetime) -> GoodCertificate | None:
        good = self._good.get((org_id, serial))
        return good if good is not None and now <= good.not_after else None

    async def reload(self, session: AsyncSession, now: datetime) -> bool:
        """Replace the cache with the database's good certificates; False if a revocation
        overlapped the read (the old cache, minus what it dropped, stays)."""
        generation = self.generation
        rows = await session.execute(
            select(
                AgentCertificate.org_id,
                AgentCertificate.serial,
                AgentCertificate.host_id,
                AgentCertificate.spki_sha256,
                AgentCertificate.not_after,
            ).where(AgentCertificate.revoked_at.is_(None), AgentCertificate.not_after >= now)
        )
        fresh = {(o, s): GoodCertificate(h, k, n) for o, s, h, k, n in rows}
        if generation != self.generation:
            return False
        self._good = fresh
        self.loaded = True
        return True

    def learn(self, org_id: int, row: AgentCertificate, generation: int) -> None:
        """Keep a good record read from the database, unless a revocation came since."""
        if generation == self.generation and row.revoked_at is None:
            self._good[(org_id, row.serial)] = GoodCertificate(
                row.host_id, row.spki_sha256, row.not_after
            )

    def forget(self, org_id: int, serials: list[str]) -> None:
        """These certificates were revoked here: never good again from now on."""
        self.generation += 1
        for serial in serials:
            self._good.pop((org_id, serial), None)

"""A clinic CA made on one replica is trusted by the others at once, not after a restart
(or the next link re-check): when a transaction that added an ``OrganizationCa`` commits,
``announce`` is called with its organization, and the routing broadcasts ``ca``; each other
replica then reloads the CAs from the database (never from the message) into its agent TLS
context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from broker.db.models import OrganizationCa

_KEY: Final = "mamori_ca_news"
_PENDING: Final = "mamori_ca_news_pending"


def watch(sessions: async_sessionmaker[AsyncSession], announce: Callable[[int], None]) -> None:
    """Sessions made by ``sessions`` from now on call ``announce(org_id)`` for each CA they
    commit."""
    info = dict(sessions.kw.get("info") or {})
    info[_KEY] = announce
    sessions.configure(info=info)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    if _KEY not in session.info:
        return
    for obj in session.new:
        if isinstance(obj, OrganizationCa):
            session.info.setdefault(_PENDING, []).append(obj.org_id)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    announce = session.info.get(_KEY)
    for org_id in session.info.pop(_PENDING, []):
        if callable(announce):
            announce(org_id)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)

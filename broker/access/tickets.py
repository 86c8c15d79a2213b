"""Single-use viewer tickets: how a browser authenticates its /ws/viewer upgrade.

A page with an active (MFA-complete) session asks ``POST /api/viewer-tickets`` for a ticket
naming one host; the WebSocket URL carries it as ``?ticket=``. It is good for one upgrade
within 30 seconds and only together with the session it was issued to, so a ticket that
leaks into a log is already spent or expired (DESIGN.md: never a long-lived token in a URL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import BrowserSession, ViewerTicket
from broker.secretbox import new_token, token_digest

MAX_TICKET_CHARS: Final = 128


async def issue(
    session: AsyncSession, owner: BrowserSession, host_id: str, now: datetime, ttl_s: int
) -> str:
    """A new ticket for ``owner`` to open a viewer on ``host_id``."""
    ticket = new_token()
    session.add(
        ViewerTicket(
            ticket_hash=token_digest(ticket),
            session_id=owner.id,
            user_id=owner.user_id,
            org_id=owner.org_id,
            host_id=host_id,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    await session.flush()
    return ticket


async def redeem(
    session: AsyncSession, ticket: str | None, owner: BrowserSession, now: datetime
) -> ViewerTicket | None:
    """Spend ``ticket`` if it is unused, unexpired and was issued to ``owner``.

    One conditional UPDATE: two upgrades racing with the same ticket cannot both win.
    """
    if not ticket or len(ticket) > MAX_TICKET_CHARS:
        return None
    spent = await session.scalar(
        update(ViewerTicket)
        .where(
            ViewerTicket.ticket_hash == token_digest(ticket),
            ViewerTicket.used_at.is_(None),
            ViewerTicket.expires_at > now,
            ViewerTicket.session_id == owner.id,
        )
        .values(used_at=now)
        .returning(ViewerTicket)
    )
    return spent

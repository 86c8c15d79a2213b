"""Host agents: per-organization registration tokens and the hosts they register.

An admin creates (or rotates) the organization's agent token and installs it on the
clinic's PCs; an agent presents it as ``Authorization: Bearer`` on /ws/agent and its host is
registered under that organization. Only the SHA-256 of the token is stored; rotating
revokes the previous token for new connections. This is the small seam the trust issue
replaces with enrolled client certificates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import AgentCredential, Host
from broker.security.secretbox import new_token, token_digest

TOKEN_PREFIX: Final = "mamori-agent-"  # noqa: S105  (a prefix, not a secret)
MAX_TOKEN_CHARS: Final = 128


async def rotate_token(
    session: AsyncSession, org_id: int, created_by: int | None, now: datetime
) -> str:
    """A new agent token for ``org_id``; the previous one stops working. Shown once."""
    await session.execute(
        update(AgentCredential)
        .where(AgentCredential.org_id == org_id, AgentCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = TOKEN_PREFIX + new_token()
    session.add(
        AgentCredential(
            org_id=org_id, token_hash=token_digest(token), created_by=created_by, created_at=now
        )
    )
    await session.flush()
    return token


async def current_token(session: AsyncSession, org_id: int) -> AgentCredential | None:
    return await session.scalar(
        select(AgentCredential).where(
            AgentCredential.org_id == org_id, AgentCredential.revoked_at.is_(None)
        )
    )


async def org_for_token(session: AsyncSession, token: str) -> int | None:
    """The organization whose live agent token this is, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    return await session.scalar(
        select(AgentCredential.org_id).where(
            AgentCredential.token_hash == token_digest(token),
            AgentCredential.revoked_at.is_(None),
        )
    )


async def register_host(
    session: AsyncSession, org_id: int, host_id: str, name: str, now: datetime
) -> Host:
    """Record (or refresh) a host of ``org_id`` as its agent says hello."""
    host = await session.scalar(select(Host).where(Host.org_id == org_id, Host.host_id == host_id))
    if host is None:
        host = Host(org_id=org_id, host_id=host_id, name=name, first_seen_at=now, last_seen_at=now)
        session.add(host)
    else:
        host.name = name
        host.last_seen_at = now
    await session.flush()
    return host

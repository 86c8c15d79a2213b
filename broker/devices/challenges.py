"""Broker challenges a viewing device signs before each viewer session.

``POST /api/viewer-challenges`` hands out 32 random bytes bound to the browser session, the
device and the host; ``POST /api/viewer-tickets`` takes them back with the device's
signature. A challenge is spent on its first answer (right or wrong: a wrong guess costs the
thief the challenge) and lives 30 s, so a recorded signature is worth nothing later. The
browser signs ``challenge_message``: the challenge together with the host it is for and a
context string, so the key signs nothing else that could be mistaken for this.

Only the SHA-256 of a challenge is stored, like tickets; the browser sends the challenge
back and the digest finds the row.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import BrowserSession, DeviceChallenge, ViewerTicket, ViewingDevice
from broker.devices.keys import new_challenge
from broker.secretbox import token_digest

CHALLENGE_TTL_S: Final = 30
# Answered challenges are kept a while: the row ties the ticket it earned to the device
# until the ticket (30 s) is redeemed.
KEEP_USED_S: Final = 300
# Two tabs of one browser session may each be opening a viewer; more than this many
# outstanding challenges per session only fill the table.
MAX_OUTSTANDING: Final = 4
CONTEXT: Final = "mamori-viewer-challenge-v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes | None:
    """Bytes of unpadded base64url text, or None if it is not that."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None


def challenge_message(host_id: str, challenge: str) -> bytes:
    """What the browser signs (web_client/core/device_proof.js builds the same bytes)."""
    return f"{CONTEXT}\n{host_id}\n{challenge}".encode()


async def issue(
    session: AsyncSession,
    owner: BrowserSession,
    device: ViewingDevice,
    host_id: str,
    now: datetime,
) -> str:
    """A fresh challenge (base64url) for ``owner`` to sign with ``device`` for ``host_id``."""
    await session.execute(
        delete(DeviceChallenge).where(
            DeviceChallenge.session_id == owner.id,
            DeviceChallenge.expires_at <= now - timedelta(seconds=KEEP_USED_S),
        )
    )
    outstanding = list(
        await session.scalars(
            select(DeviceChallenge.id)
            .where(
                DeviceChallenge.session_id == owner.id,
                DeviceChallenge.used_at.is_(None),
                DeviceChallenge.expires_at > now,
            )
            .order_by(DeviceChallenge.id.desc())
        )
    )
    stale = outstanding[MAX_OUTSTANDING - 1 :]
    if stale:
        await session.execute(delete(DeviceChallenge).where(DeviceChallenge.id.in_(stale)))
    challenge = b64url(new_challenge())
    session.add(
        DeviceChallenge(
            org_id=owner.org_id,
            session_id=owner.id,
            device_id=device.id,
            host_id=host_id,
            challenge_hash=token_digest(challenge),
            expires_at=now + timedelta(seconds=CHALLENGE_TTL_S),
        )
    )
    await session.flush()
    return challenge


async def spend(
    session: AsyncSession,
    owner: BrowserSession,
    device: ViewingDevice,
    host_id: str,
    challenge: str,
    now: datetime,
) -> DeviceChallenge | None:
    """Spend ``challenge`` if it is unused, unexpired and was issued to this session for
    this device and host; None otherwise.

    One conditional UPDATE: two answers racing with the same challenge cannot both win.
    """
    spent = await session.scalar(
        update(DeviceChallenge)
        .where(
            DeviceChallenge.challenge_hash == token_digest(challenge),
            DeviceChallenge.session_id == owner.id,
            DeviceChallenge.device_id == device.id,
            DeviceChallenge.host_id == host_id,
            DeviceChallenge.used_at.is_(None),
            DeviceChallenge.expires_at > now,
        )
        .values(used_at=now)
        .returning(DeviceChallenge)
    )
    return spent


async def device_of_ticket(session: AsyncSession, ticket_id: int) -> int | None:
    """The device whose signed challenge earned ticket ``ticket_id``, or None."""
    return await session.scalar(
        select(DeviceChallenge.device_id).where(DeviceChallenge.ticket_id == ticket_id)
    )


async def link_ticket(session: AsyncSession, challenge: str, ticket: str) -> None:
    """Record which ticket a spent challenge earned (the viewer endpoint finds the device
    through it when the ticket is redeemed)."""
    ticket_id = await session.scalar(
        select(ViewerTicket.id).where(ViewerTicket.ticket_hash == token_digest(ticket))
    )
    await session.execute(
        update(DeviceChallenge)
        .where(DeviceChallenge.challenge_hash == token_digest(challenge))
        .values(ticket_id=ticket_id)
    )

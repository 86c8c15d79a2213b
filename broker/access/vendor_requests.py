"""Vendor sessions, approved one at a time (MHLW.md row 12; the 2024 Okayama incident: a
maintenance VPN always open with a default password).

A vendor account asks to open one host, with a short reason; an admin approves or denies
that request in the console. An approval is good for one session: it is spent when the
vendor's viewer joins the host, and lapses if unused (``approval_ttl_s``, default 30 min).
A request nobody answers lapses too (``PENDING_TTL``). The vendor still needs a grant for
the host (which host, view or control, which hours); the approval is the clinic saying
"yes, now" each time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import VendorRequest

# A request is for "now or soon"; one nobody answered within a day is stale.
PENDING_TTL: Final = dt.timedelta(days=1)
MAX_REASON_CHARS: Final = 200


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    USED = "used"
    EXPIRED = "expired"  # derived: pending or approved past expires_at; never stored


def state_of(request: VendorRequest, now: dt.datetime) -> State:
    """The request's state at ``now`` (expiry is read from the clock, not a job)."""
    state = State(request.state)
    if state in {State.PENDING, State.APPROVED} and request.expires_at <= now:
        return State.EXPIRED
    return state


async def create(
    session: AsyncSession, org_id: int, user_id: int, host_ref: int, reason: str, now: dt.datetime
) -> VendorRequest:
    request = VendorRequest(
        org_id=org_id,
        user_id=user_id,
        host_ref=host_ref,
        reason=reason[:MAX_REASON_CHARS],
        state=State.PENDING.value,
        created_at=now,
        expires_at=now + PENDING_TTL,
    )
    session.add(request)
    await session.flush()
    return request


async def open_request(
    session: AsyncSession, user_id: int, host_ref: int, now: dt.datetime
) -> VendorRequest | None:
    """The vendor's pending or approved (unexpired) request for the host, if any."""
    return await session.scalar(
        select(VendorRequest)
        .where(
            VendorRequest.user_id == user_id,
            VendorRequest.host_ref == host_ref,
            VendorRequest.state.in_([State.PENDING.value, State.APPROVED.value]),
            VendorRequest.expires_at > now,
        )
        .order_by(VendorRequest.id.desc())
        .limit(1)
    )


async def approved(
    session: AsyncSession, user_id: int, host_ref: int, now: dt.datetime
) -> VendorRequest | None:
    """An approved, unused, unexpired request of the vendor for the host."""
    return await session.scalar(
        select(VendorRequest)
        .where(
            VendorRequest.user_id == user_id,
            VendorRequest.host_ref == host_ref,
            VendorRequest.state == State.APPROVED.value,
            VendorRequest.expires_at > now,
        )
        .order_by(VendorRequest.id)
        .limit(1)
    )


async def latest_by_host(
    session: AsyncSession, user_id: int, host_refs: Sequence[int]
) -> dict[int, VendorRequest]:
    """The vendor's newest request for each host (for the host list)."""
    if not host_refs:
        return {}
    rows = await session.scalars(
        select(VendorRequest)
        .where(VendorRequest.user_id == user_id, VendorRequest.host_ref.in_(host_refs))
        .order_by(VendorRequest.id)
    )
    return {row.host_ref: row for row in rows}


async def find(session: AsyncSession, org_id: int, request_id: int) -> VendorRequest | None:
    """A request of ``org_id``; another clinic's id is None like a missing one."""
    return await session.scalar(
        select(VendorRequest).where(VendorRequest.id == request_id, VendorRequest.org_id == org_id)
    )


async def of_org(session: AsyncSession, org_id: int, limit: int = 50) -> list[VendorRequest]:
    """The organization's newest requests first."""
    rows = await session.scalars(
        select(VendorRequest)
        .where(VendorRequest.org_id == org_id)
        .order_by(VendorRequest.id.desc())
        .limit(limit)
    )
    return list(rows)


def decide(
    request: VendorRequest, approve: bool, admin_id: int, now: dt.datetime, approval_ttl_s: int
) -> None:
    """Approve (good for one session within ``approval_ttl_s``) or deny a pending request."""
    request.decided_by, request.decided_at = admin_id, now
    if approve:
        request.state = State.APPROVED.value
        request.expires_at = now + dt.timedelta(seconds=approval_ttl_s)
    else:
        request.state = State.DENIED.value


async def spend(session: AsyncSession, request_id: int, session_id: str, now: dt.datetime) -> bool:
    """Mark an approval used by one session; False if it was spent or lapsed meanwhile.

    One conditional UPDATE, so two viewers racing with tickets from the same approval get
    one session between them, on SQLite and PostgreSQL alike.
    """
    result = await session.execute(
        update(VendorRequest)
        .where(
            VendorRequest.id == request_id,
            VendorRequest.state == State.APPROVED.value,
            VendorRequest.expires_at > now,
        )
        .values(state=State.USED.value, used_at=now, session_id=session_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def give_back(session: AsyncSession, request_id: int, session_id: str) -> None:
    """Undo ``spend`` when the session never started (host offline or busy at join): the
    vendor did not get the session the approval was for."""
    await session.execute(
        update(VendorRequest)
        .where(VendorRequest.id == request_id, VendorRequest.session_id == session_id)
        .values(state=State.APPROVED.value, used_at=None, session_id=None)
        .execution_options(synchronize_session=False)
    )

"""The console's allow-lists of source networks (settings page; MHLW.md row 17).

``GET`` shows the three lists in force (empty: not restricted) and the address the admin
is calling from (the one the lists are checked against, so the page can say whether it is
inside). ``PUT`` replaces the lists given; a change that would shut out the admin's own
address, an invalid network or a list too long is refused with a code the page explains,
and audited like every settings change (old and new lists).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import source_networks
from broker.api import deps
from broker.api.deps import AdminCaller, Db, Text
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.models import User
from broker.errors import BadRequest, Forbidden, SettingRefused
from broker.identity import accounts

router = APIRouter(prefix="/api/admin/settings/source-networks", tags=["admin"])

# Pydantic bounds only keep absurd bodies out; the real limit (and its clear error) is
# source_networks.MAX_NETWORKS.
Entry = Annotated[Text, Field(min_length=1, max_length=64)]
Entries = Annotated[list[Entry], Field(max_length=1000)]


class SourceNetworksView(BaseModel):
    everyone: list[str]
    admin: list[str]
    vendor: list[str]
    your_address: str = Field(description="the address this request came from")
    max_networks: int = Field(description="per list")


class SourceNetworksChange(BaseModel):
    """Only the lists given change; an empty list lifts that restriction."""

    model_config = ConfigDict(extra="forbid")
    everyone: Entries | None = None
    admin: Entries | None = None
    vendor: Entries | None = None


def _view(lists: source_networks.Lists, source: str) -> SourceNetworksView:
    return SourceNetworksView(
        everyone=lists["everyone"],
        admin=lists["admin"],
        vendor=lists["vendor"],
        your_address=source,
        max_networks=source_networks.MAX_NETWORKS,
    )


@router.get("")
async def read_source_networks(db: Db, caller: AdminCaller) -> SourceNetworksView:
    """The clinic's lists of where sign-ins and sessions may come from."""
    return _view(await source_networks.lists_of(db, caller.org_id), caller.source)


@router.put("")
async def change_source_networks(
    body: SourceNetworksChange, request: Request, db: Db, caller: AdminCaller
) -> SourceNetworksView:
    """Replace some lists; they apply to the next sign-in and the next ticket."""
    now = deps.now_of(request)
    # Read before a rollback expires the user row.
    actor, org_id, user_id = caller.actor, caller.org_id, caller.user.id
    changes = body.model_dump(exclude_none=True)
    # Two admins changing the lists at once must not each pass the lock-out check against
    # what the other is replacing.
    await db.commit()
    await accounts.lock_org(db, org_id)
    try:
        changed = await source_networks.change(db, org_id, changes, user_id, caller.source, now)
    except SettingRefused as exc:
        await db.rollback()
        record(db, actor, Event.SETTINGS_CHANGED, Outcome.DENIED, now, detail=str(exc))
        await db.commit()
        raise BadRequest(str(exc), code=exc.code) from exc
    if changed:
        detail = "; ".join(changed)
        record(db, actor, Event.SETTINGS_CHANGED, Outcome.SUCCESS, now, detail=detail)
    await db.commit()
    return _view(await source_networks.lists_of(db, org_id), caller.source)


async def require_allowed_source(
    db: AsyncSession, actor: Actor, user: User, source: str, at: str, now: datetime
) -> None:
    """Refuse (403 ``source_not_allowed``) ``user`` coming from ``source`` when a list of
    their clinic that applies to them does not admit it; audited with the address, the list
    and where (``at``: sign_in or ticket), and committed before the refusal.

    Raises:
        Forbidden: ``source_not_allowed``.
    """
    audience = await source_networks.refusal(db, user.org_id, user.role, source)
    if audience is None:
        return
    detail = f"address={source} list={audience} at={at}"
    record(db, actor, Event.SOURCE_REFUSED, Outcome.DENIED, now, detail=detail)
    await db.commit()
    raise Forbidden(
        "your clinic does not allow connections from this network", code="source_not_allowed"
    )

"""Searching an organization's audit trail, and the rows its CSV and JSON-lines exports hold.

One filter (time range, event, actor, outcome, free text in the detail) serves the console's
search, its pages and both exports, so an export holds exactly what the search showed.
Always scoped to one organization: the broker-level chain (events of no organization) is
the operator's, through ``audit verify`` and ``audit purge``, not any clinic's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.audit.chain import HASHED_FIELDS, exported
from broker.audit.labels import (
    CSV_COLUMNS,
    ZONE_NAMES,
    Lang,
    event_label,
    outcome_label,
)
from broker.db.models import AuditEvent

EXPORT_PAGE: Final = 1000


@dataclass(frozen=True)
class AuditFilter:
    """Which records: ``since`` inclusive, ``until`` exclusive; ``actor`` and ``text`` match
    anywhere, ignoring case; ``event`` and ``outcome`` exactly."""

    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None
    actor: str | None = None
    outcome: str | None = None
    text: str | None = None

    def conditions(self, org_id: int) -> list[ColumnElement[bool]]:
        where = [AuditEvent.org_id == org_id]
        if self.since is not None:
            where.append(AuditEvent.at >= self.since)
        if self.until is not None:
            where.append(AuditEvent.at < self.until)
        if self.event:
            where.append(AuditEvent.event == self.event)
        if self.outcome:
            where.append(AuditEvent.outcome == self.outcome)
        # autoescape: a % or _ typed into the search is a character, not a wildcard.
        if self.actor:
            where.append(func.lower(AuditEvent.actor).contains(self.actor.lower(), autoescape=True))
        if self.text:
            where.append(func.lower(AuditEvent.detail).contains(self.text.lower(), autoescape=True))
        return where

    def describe(self) -> str:
        """The filter as recorded with an export (JSON, only what was set)."""
        given = {k: v for k, v in asdict(self).items() if v not in (None, "")}
        return json.dumps(given, ensure_ascii=False, default=str, sort_keys=True)


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    total: int
    next_before_id: int | None  # pass back as ``before_id`` for the next (older) page


async def search(
    session: AsyncSession, org_id: int, wanted: AuditFilter, before_id: int | None, limit: int
) -> Page:
    """Newest first, ``limit`` at a time; ``before_id`` continues after a page."""
    where = wanted.conditions(org_id)
    total = int(await session.scalar(select(func.count()).where(*where)) or 0)
    query = select(AuditEvent).where(*where)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, total, rows[-1].id if more and rows else None)


async def all_matching(
    session: AsyncSession, org_id: int, wanted: AuditFilter
) -> AsyncIterator[list[AuditEvent]]:
    """Every matching record, oldest first, a page at a time (exports)."""
    where = wanted.conditions(org_id)
    after = 0
    while True:
        rows = list(
            await session.scalars(
                select(AuditEvent)
                .where(*where, AuditEvent.id > after)
                .order_by(AuditEvent.id)
                .limit(EXPORT_PAGE)
            )
        )
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _stored(event: AuditEvent) -> Mapping[str, Any]:
    return {f: getattr(event, f) for f in (*HASHED_FIELDS, "id", "prev_hash", "hash")}


def csv_columns(zone: str, lang: Lang = "ja") -> tuple[tuple[str, str], ...]:
    """``CSV_COLUMNS`` in ``lang``, the local-time header naming the clinic's ``zone``."""
    ja, en = ZONE_NAMES.get(zone, (zone, zone))
    name = en if lang == "en" else ja
    return tuple(
        (key, (header_en if lang == "en" else header_ja).replace("{zone}", name))
        for key, header_ja, header_en in CSV_COLUMNS
    )


def csv_row(event: AuditEvent, zone: ZoneInfo, lang: Lang = "ja") -> dict[str, Any]:
    """One CSV row (``csv_columns``), its local time in the clinic's ``zone``, its event
    and outcome in words of ``lang``."""
    return {
        **_stored(event),
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "at_local": event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        "event_label": event_label(event.event, lang),
        "outcome_label": outcome_label(event.outcome, lang),
    }


def json_row(event: AuditEvent) -> dict[str, Any]:
    """One JSON line: the record with its chain fields and hashes (``audit_chain.exported``)."""
    return exported(_stored(event))

"""The admin's audit trail: search with filters, page by page; export as CSV (Excel, UTF-8
with BOM, Japanese headers) or JSON lines with the same filters; the chain's verification.

Only the admin's own organization: its records, its chain. Every export is itself audited
(``audit_exported``, with its filters) and that record is committed before the first byte
of the file leaves (MHLW.md rows 11, 13).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from broker.access.zones import org_time_zone
from broker.api import deps
from broker.api.deps import AdminCaller, Db, Text
from broker.audit import search as audit_search
from broker.audit.chain import chain_of
from broker.audit.export import to_csv, to_json_lines
from broker.audit.labels import Lang
from broker.audit.ledger import AuditSigner
from broker.audit.record import Event, Outcome, record
from broker.audit.search import AuditFilter
from broker.audit.verify import verify_chain_of
from broker.db.engine import Database
from broker.db.models import AuditEvent
from broker.errors import BadRequest

router = APIRouter(prefix="/api/admin/audit", tags=["admin"])

EventName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]


class AuditQuery(BaseModel):
    """The search's filters (query string); every one optional."""

    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime | None = Field(default=None, description="from (inclusive)")
    until: AwareDatetime | None = Field(default=None, description="to (exclusive)")
    event: EventName | None = None
    actor: Text | None = Field(default=None, max_length=64)
    outcome: Literal["success", "failure", "denied"] | None = None
    q: Text | None = Field(default=None, max_length=100, description="text in the detail")

    @field_validator("since", "until")
    @classmethod
    def _storable_time(cls, value: datetime | None) -> datetime | None:
        """In UTC and within years both databases store (a fuzzed 9999-12-31T23:59-23:59
        would overflow)."""
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("time out of range") from exc
        if not 2000 <= utc.year <= 2999:
            raise ValueError("time out of range")
        return utc

    def to_filter(self) -> AuditFilter:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise BadRequest("the start must be before the end", code="audit_range_invalid")
        return AuditFilter(
            since=self.since,
            until=self.until,
            event=self.event,
            actor=self.actor.strip() if self.actor else None,
            outcome=self.outcome,
            text=self.q.strip() if self.q else None,
        )


class SearchQuery(AuditQuery):
    before_id: int | None = Field(default=None, ge=1, le=2**62, description="next page")
    limit: int = Field(default=100, ge=1, le=500)


class ExportQuery(AuditQuery):
    format: Literal["csv", "jsonl"] = "csv"
    # The CSV's headers and event/outcome words: the console's language (Japanese unless
    # the page is in English). JSON lines hold codes only.
    lang: Lang = "ja"


class AuditRecord(BaseModel):
    id: int
    sequence: int
    at: datetime
    actor: str
    event: str
    outcome: str
    source_address: str
    target_user_id: int | None
    detail: str


class AuditPage(BaseModel):
    events: list[AuditRecord]
    total: int = Field(description="records matching the filters")
    next_before_id: int | None = Field(description="before_id of the next (older) page")


class ChainProblem(BaseModel):
    sequence: int
    id: int | None
    kind: str = Field(description="edited, missing_before, out_of_order, truncated, ...")


class ChainStatus(BaseModel):
    ok: bool
    records: int = Field(description="records that verified")
    first_sequence: int | None
    verified_through_sequence: int | None
    verified_through_at: datetime | None
    checkpoints: int
    last_checkpoint_sequence: int | None
    last_checkpoint_at: datetime | None
    problem: ChainProblem | None
    key_id: str = Field(description="SHA-256 of the checkpoint key (audit public-key)")


class AuditKinds(BaseModel):
    events: list[str]
    outcomes: list[str]


def _view(e: AuditEvent) -> AuditRecord:
    return AuditRecord(
        id=e.id,
        sequence=e.sequence,
        at=e.at,
        actor=e.actor,
        event=e.event,
        outcome=e.outcome,
        source_address=e.source_address,
        target_user_id=e.target_user_id,
        detail=e.detail,
    )


@router.get("/search")
async def search(query: Annotated[SearchQuery, Query()], db: Db, caller: AdminCaller) -> AuditPage:
    """The organization's records matching the filters, newest first, a page at a time."""
    page = await audit_search.search(
        db, caller.org_id, query.to_filter(), query.before_id, query.limit
    )
    return AuditPage(
        events=[_view(e) for e in page.events],
        total=page.total,
        next_before_id=page.next_before_id,
    )


@router.get("/kinds")
async def kinds(caller: AdminCaller) -> AuditKinds:
    """The event and outcome names the filters accept."""
    return AuditKinds(events=[e.value for e in Event], outcomes=[o.value for o in Outcome])


@router.get("/export")
async def export(
    query: Annotated[ExportQuery, Query()], request: Request, db: Db, caller: AdminCaller
) -> StreamingResponse:
    """Every matching record, oldest first, as a file: CSV (opens in Excel) or JSON lines
    (with each record's hashes)."""
    wanted = query.to_filter()
    now = deps.now_of(request)
    record(
        db,
        caller.actor,
        Event.AUDIT_EXPORTED,
        Outcome.SUCCESS,
        now,
        detail=f"format={query.format} filters={wanted.describe()}",
    )
    await db.commit()
    database: Database = request.app.state.db
    org_id = caller.org_id
    zone_name = await org_time_zone(db, org_id)
    zone, columns = ZoneInfo(zone_name), audit_search.csv_columns(zone_name, query.lang)

    async def chunks() -> AsyncIterator[bytes]:
        # Its own session: the request's closes when the route returns, before streaming.
        first = True
        async with database.session() as s:
            async for rows in audit_search.all_matching(s, org_id, wanted):
                if query.format == "csv":
                    text = to_csv(
                        columns,
                        (audit_search.csv_row(e, zone, query.lang) for e in rows),
                        header=first,
                    )
                else:
                    text = to_json_lines(audit_search.json_row(e) for e in rows)
                first = False
                yield text.encode()
        if first and query.format == "csv":  # nothing matched: the headers alone
            yield to_csv(columns, []).encode()

    stamp = now.astimezone(zone).strftime("%Y%m%d-%H%M")
    if query.format == "csv":
        media, name = "text/csv; charset=utf-8", f"mamori-audit-{stamp}.csv"
    else:
        media, name = "application/x-ndjson; charset=utf-8", f"mamori-audit-{stamp}.jsonl"
    return StreamingResponse(
        chunks(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/chain")
async def chain_status(request: Request, db: Db, caller: AdminCaller) -> ChainStatus:
    """Verify the organization's chain now: "verified up to record N at time T", or the
    first record that was edited, deleted or reordered (then audited, once per finding)."""
    signer: AuditSigner = request.app.state.audit_signer
    chain = chain_of(caller.org_id)
    report = await verify_chain_of(db, chain, signer.key.public_key())
    problem = None
    if report.problem is not None:
        problem = ChainProblem(
            sequence=report.problem.sequence, id=report.problem_id, kind=report.problem.problem
        )
        detail = f"{report.problem} id={report.problem_id}"
        newest = await db.scalar(
            select(AuditEvent)
            .where(AuditEvent.chain == chain)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        if newest is None or (newest.event, newest.detail) != (Event.AUDIT_CHAIN_BROKEN, detail):
            now = deps.now_of(request)
            record(db, caller.actor, Event.AUDIT_CHAIN_BROKEN, Outcome.FAILURE, now, detail=detail)
            await db.commit()
    return ChainStatus(
        ok=report.ok,
        records=report.records,
        first_sequence=report.first_sequence,
        verified_through_sequence=report.last_sequence,
        verified_through_at=report.last_at,
        checkpoints=report.checkpoints,
        last_checkpoint_sequence=report.last_checkpoint_sequence,
        last_checkpoint_at=report.last_checkpoint_at,
        problem=problem,
        key_id=signer.key_id,
    )

"""The compliance report: on screen, as a file, and the audited "reviewed by / on" mark
(MHLW.md rows 11, 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from broker import report
from broker.access import remote_policy as org_policy
from broker.access.zones import org_time_zone
from broker.api import deps
from broker.api.deps import AdminCaller, Db, Text
from broker.audit.ledger import AuditSigner
from broker.audit.record import Event, Outcome, record
from broker.db.models import ReportReview
from broker.signaling.relay import Relay

router = APIRouter(prefix="/api/admin/report", tags=["admin"])

Lang = Literal["ja", "en"]


class RowView(BaseModel):
    number: int
    requirement: str
    evidence: str
    value: str
    status: Literal["pass", "attention", "clinic"]


class ReviewView(BaseModel):
    reviewed_by: str
    reviewed_at: datetime
    note: str


class ReportView(BaseModel):
    organization: str
    checked_at: datetime
    version: str
    rows: list[RowView]
    clinic_duties: list[str]
    last_review: ReviewView | None


class ReviewMark(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field(default="", max_length=500)


async def _build(request: Request, db: Db, org_id: int) -> report.Report:
    relay: Relay = request.app.state.relay
    policy = await org_policy.policy_for(db, org_id, relay.policy)
    signer: AuditSigner = request.app.state.audit_signer
    return await report.build(
        db,
        org_id,
        policy,
        deps.settings_of(request),
        deps.now_of(request),
        signer.key.public_key(),
        request.app.state.version,
    )


def _view(built: report.Report, lang: str) -> ReportView:
    review = built.last_review
    return ReportView(
        organization=built.organization,
        checked_at=built.checked_at,
        version=built.version,
        rows=[
            RowView(
                number=r.number,
                requirement=r.requirement.get(lang),
                evidence=r.evidence.get(lang),
                value=r.value,
                status=r.status.value,
            )
            for r in built.rows
        ],
        clinic_duties=[d.get(lang) for d in built.clinic_duties],
        last_review=(
            ReviewView(
                reviewed_by=review.reviewed_by, reviewed_at=review.reviewed_at, note=review.note
            )
            if review
            else None
        ),
    )


@router.get("")
async def show_report(
    request: Request, db: Db, caller: AdminCaller, lang: Lang = "ja"
) -> ReportView:
    """The organization's report, computed now."""
    return _view(await _build(request, db, caller.org_id), lang)


@router.get("/download", response_class=Response)
async def download_report(
    request: Request, db: Db, caller: AdminCaller, lang: Lang = "ja"
) -> Response:
    """The report as a CSV file Excel opens (UTF-8 with BOM); the download is audited."""
    built = await _build(request, db, caller.org_id)
    now = deps.now_of(request)
    record(db, caller.actor, Event.REPORT_EXPORTED, Outcome.SUCCESS, now, detail=f"lang={lang}")
    await db.commit()
    name = f"mamori-compliance-{now:%Y%m%d}.csv"
    # Its times in the clinic's own zone (to_csv_text's default is Japan's).
    text = report.to_csv_text(built, lang, await org_time_zone(db, caller.org_id))
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/review")
async def mark_reviewed(
    body: ReviewMark, request: Request, db: Db, caller: AdminCaller, lang: Lang = "ja"
) -> ReportView:
    """Record that the caller reviewed the report now (and audit it)."""
    now = deps.now_of(request)
    note = body.note.strip()
    db.add(
        ReportReview(org_id=caller.org_id, reviewed_by=caller.user.id, reviewed_at=now, note=note)
    )
    record(db, caller.actor, Event.REPORT_REVIEWED, Outcome.SUCCESS, now, detail=note[:400])
    await db.commit()
    return _view(await _build(request, db, caller.org_id), lang)

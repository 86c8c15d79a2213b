"""The report as a whole, as of one moment: its rows, the clinic's duties and the last
review, built from the facts; and as a CSV file Excel opens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access.remote_policy import RemotePolicy
from broker.audit.export import to_csv
from broker.config import Settings
from broker.db.models import DEFAULT_TIME_ZONE
from broker.report.facts import Review, gather, last_review, organization_name
from broker.report.rows import CLINIC_DUTIES, Row, Status, Text, rows
from broker.version import VERSION


@dataclass(frozen=True)
class Report:
    organization: str
    checked_at: datetime
    rows: list[Row]
    clinic_duties: list[Text]
    last_review: Review | None
    version: str = VERSION
    notes: list[Text] = field(default_factory=list)


async def build(
    session: AsyncSession,
    org_id: int,
    policy: RemotePolicy,
    settings: Settings,
    now: datetime,
    audit_key: Ed25519PublicKey,
    broker_version: str = VERSION,
) -> Report:
    """The organization's report as of ``now``, agents compared with ``broker_version``."""
    name = await organization_name(session, org_id)
    facts = await gather(session, org_id, policy, now, audit_key, broker_version)
    return Report(
        organization=name,
        checked_at=now,
        rows=rows(facts, settings),
        clinic_duties=list(CLINIC_DUTIES),
        last_review=await last_review(session, org_id),
        version=broker_version,
    )


_STATUS_TEXT: Final = {
    Status.PASS: Text("適合", "pass"),
    Status.ATTENTION: Text("要対応", "attention"),
    Status.CLINIC: Text("医療機関で対応", "clinic's measure"),
}
_COLUMNS: Final = {
    "ja": (
        ("number", "項番"),
        ("requirement", "要件"),
        ("evidence", "根拠（実測）"),
        ("value", "値"),
        ("status", "判定"),
        ("checked_at", "確認日時"),
    ),
    "en": (
        ("number", "Row"),
        ("requirement", "Requirement"),
        ("evidence", "Evidence (live)"),
        ("value", "Value"),
        ("status", "Result"),
        ("checked_at", "Checked at"),
    ),
}


def status_text(status: Status, lang: str) -> str:
    return _STATUS_TEXT[status].get(lang)


def to_csv_text(report: Report, lang: str, zone: str = DEFAULT_TIME_ZONE) -> str:
    """The report as a CSV Excel opens (UTF-8 BOM): the rows, then the clinic's duties,
    then the last review."""
    local = report.checked_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    lines: list[dict[str, object]] = [
        {
            "number": row.number,
            "requirement": row.requirement.get(lang),
            "evidence": row.evidence.get(lang),
            "value": row.value,
            "status": status_text(row.status, lang),
            "checked_at": local,
        }
        for row in report.rows
    ]
    duty_label = Text("責任分界（医療機関の責任）", "Shared responsibility (the clinic's)").get(
        lang
    )
    lines += [
        {
            "number": 19,
            "requirement": duty_label,
            "evidence": duty.get(lang),
            "status": status_text(Status.CLINIC, lang),
            "checked_at": local,
        }
        for duty in report.clinic_duties
    ]
    review = report.last_review
    lines.append(
        {
            "requirement": Text("最終確認", "Last reviewed").get(lang),
            "evidence": (
                f"{review.reviewed_by} "
                f"{review.reviewed_at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {review.note}"
                if review
                else Text("未確認", "never").get(lang)
            ),
        }
    )
    return to_csv(_COLUMNS["en" if lang == "en" else "ja"], lines)

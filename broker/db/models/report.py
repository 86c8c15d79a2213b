"""Marks that someone reviewed the compliance report (``broker.report``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime


class ReportReview(Base):
    """Someone checked the compliance report: who, when, and what they noted (MHLW.md row 11,
    "reviewed regularly"). Rows are only added; the newest is the report's mark."""

    __tablename__ = "report_reviews"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    reviewed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(String(500), default="")

"""The MHLW compliance report: facts gathered from the database, rows, rendering.

``facts`` reads the figures, ``rows`` turns them into the checklist's rows with pass or
attention, ``rendering`` assembles the report as of a moment and writes it as CSV. Callers
use the names re-exported here.
"""

from __future__ import annotations

from broker.report.facts import DORMANT_DAYS, RECENT_DAYS, Facts, Review, gather, last_review
from broker.report.rendering import Report, build, status_text, to_csv_text
from broker.report.rows import (
    ADMIN_ATTENTION_COUNT,
    CLINIC_DUTIES,
    IDLE_ATTENTION_S,
    REVIEW_DAYS,
    Row,
    Status,
    Text,
    rows,
)

__all__ = [
    "ADMIN_ATTENTION_COUNT",
    "CLINIC_DUTIES",
    "DORMANT_DAYS",
    "IDLE_ATTENTION_S",
    "RECENT_DAYS",
    "REVIEW_DAYS",
    "Facts",
    "Report",
    "Review",
    "Row",
    "Status",
    "Text",
    "build",
    "gather",
    "last_review",
    "rows",
    "status_text",
    "to_csv_text",
]

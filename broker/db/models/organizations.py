"""The tenant: one clinic (or small hospital); every other row belongs to one."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime

DEFAULT_TIME_ZONE: Final = "Asia/Tokyo"


class Organization(Base):
    """A tenant: one clinic (an EHR vendor's broker may hold hundreds)."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # What a person types at sign-in to name their clinic (``identity/accounts.py``):
    # user names are unique only within a clinic.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # A zoneinfo name: grants' weekly windows are wall-clock times in this zone.
    time_zone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIME_ZONE, server_default=DEFAULT_TIME_ZONE
    )

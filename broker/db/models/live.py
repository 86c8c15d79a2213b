"""Remote sessions a broker process holds now, so one cut by a crash can be closed in the
audit trail with its real end when the broker comes back (``broker.signaling.session_audit``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, UtcDateTime


class OpenSession(Base):
    """Written with the ``session_started`` record, deleted with the ``session_ended`` one
    (same transaction each): a row left over names a session whose end was never recorded."""

    __tablename__ = "open_sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The broker process (MAMORI_REPLICA_ID) that relays it: only that one closes it.
    replica: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    username: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())

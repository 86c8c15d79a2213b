"""Remote sessions a broker process holds now, so one cut by a crash can be closed in the
audit trail with its real end when the broker comes back (``broker.signaling.session_audit``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, false
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
    # For re-adoption after a broker restart (broker.signaling.adoption): the browser session
    # and viewing device it was opened from (each must still hold), whether it only views,
    # the SHA-256 (hex) of the page's current resume secret, and why the broker stopped
    # (``broker_shutdown``; None while it runs, or after a crash).
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), default=None
    )
    device_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), default=None
    )
    view_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    resume_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    suspended_reason: Mapped[str | None] = mapped_column(String(40), default=None)

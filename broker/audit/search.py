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
from broker.db.models import AuditEvent

EXPORT_PAGE: Final = 1000
# How the local-time column names a zone; any other zone by its IANA name.
ZONE_NAMES: Final = {"Asia/Tokyo": "日本時間"}

# What a clinic reads in Excel: Japanese headers, the time in the clinic's zone first, a
# plain-words event and outcome, then the codes and hashes an auditor needs. "{zone}" is
# filled by ``csv_columns``.
CSV_COLUMNS: Final = (
    ("sequence", "連番"),
    ("at_local", "日時（{zone}）"),
    ("actor", "利用者"),
    ("event_label", "出来事"),
    ("outcome_label", "結果"),
    ("source_address", "接続元"),
    ("target_user_id", "対象の利用者ID"),
    ("detail", "詳細"),
    ("event", "種別コード"),
    ("at", "日時（UTC）"),
    ("id", "記録ID"),
    ("hash", "ハッシュ（SHA-256）"),
)
EVENT_LABELS: Final = {
    "login_password": "サインイン（パスワード）",
    "login_mfa": "サインイン（2 段階目）",
    "lockout": "ロック",
    "logout": "サインアウト",
    "logout_everywhere": "すべての端末からサインアウト",
    "session_revoked": "セッションの終了",
    "enrollment_started": "アカウント登録の開始",
    "mfa_enrolled": "2 段階認証の登録",
    "mfa_removed": "2 段階認証の削除",
    "recovery_code_used": "リカバリーコードの使用",
    "recovery_codes_issued": "リカバリーコードの発行",
    "password_changed": "パスワードの変更",
    "invite": "招待",
    "role_change": "役割の変更",
    "disable": "利用停止",
    "enable": "利用再開",
    "factors_reset": "認証のリセット",
    "agent_token_rotated": "エージェント登録トークンの発行",
    "agent_refused": "エージェントの接続拒否",
    "viewer_ticket": "接続チケットの発行",
    "session_started": "リモート接続の開始",
    "session_ended": "リモート接続の終了",
    "step_up": "本人の再確認（2 段階目）",
    "policy_violation": "ポリシー違反",
    "client_blocked": "貼り付け・ドロップの阻止",
    "access_denied": "権限のない操作の拒否",
    "viewer_refused": "画面接続の拒否",
    "audit_exported": "監査ログの書き出し",
    "audit_purged": "監査ログの削除（保存期間後）",
    "audit_chain_broken": "監査ログの改ざんの疑い",
    "enrollment_code_created": "PC 登録コードの発行",
    "enrollment_refused": "PC 登録の拒否",
    "host_enrolled": "PC の登録",
    "cert_issued": "PC 証明書の発行",
    "cert_renewed": "PC 証明書の更新",
    "cert_revoked": "PC 証明書の失効",
    "session_terminated": "管理者によるリモート接続の終了",
    "settings_changed": "設定の変更",
    "report_reviewed": "報告書の確認",
    "report_exported": "報告書の書き出し",
    "alert_settings_changed": "警告の設定の変更",
    "alert_webhook_secret_rotated": "Webhook 署名鍵の再発行",
    "alert_acknowledged": "警告の確認",
    "alert_test": "警告のテスト送信",
    "alert_delivery_failed": "警告の送信失敗",
    "session_refused": "リモート接続の拒否",
    "grant_created": "接続許可の追加",
    "grant_changed": "接続許可の変更",
    "grant_deleted": "接続許可の削除",
    "time_zone_changed": "タイムゾーンの変更",
    "vendor_requested": "保守業者の接続申請",
    "vendor_approved": "保守業者の接続承認",
    "vendor_denied": "保守業者の接続却下",
    "vendor_approval_used": "保守業者の承認による接続",
    "device_registered": "端末の登録申請",
    "device_approved": "端末の承認",
    "device_denied": "端末の却下",
    "device_revoked": "端末の登録取り消し",
}
OUTCOME_LABELS: Final = {"success": "成功", "failure": "失敗", "denied": "拒否"}


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


def csv_columns(zone: str) -> tuple[tuple[str, str], ...]:
    """``CSV_COLUMNS`` with the local-time header naming the clinic's ``zone``."""
    name = ZONE_NAMES.get(zone, zone)
    return tuple((key, header.replace("{zone}", name)) for key, header in CSV_COLUMNS)


def csv_row(event: AuditEvent, zone: ZoneInfo) -> dict[str, Any]:
    """One CSV row (``csv_columns``), its local time in the clinic's ``zone``."""
    return {
        **_stored(event),
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "at_local": event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        "event_label": EVENT_LABELS.get(event.event, event.event),
        "outcome_label": OUTCOME_LABELS.get(event.outcome, event.outcome),
    }


def json_row(event: AuditEvent) -> dict[str, Any]:
    """One JSON line: the record with its chain fields and hashes (``audit_chain.exported``)."""
    return exported(_stored(event))

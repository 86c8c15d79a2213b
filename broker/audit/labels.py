"""Plain words for the audit trail's codes and the CSV export's columns, in Japanese (the
default: what a clinic opens in Excel) and English (when the console is in English).

The console's page has its own copies (web_client/core/i18n_audit.js); a test keeps each
language's event and outcome words here equal to the page's, so the file an admin exports
says what the page showed.
"""

from __future__ import annotations

from typing import Final, Literal

Lang = Literal["ja", "en"]

# The time in the clinic's zone first, a plain-words event and outcome, then the codes and
# hashes an auditor needs. "{zone}" is filled by ``search.csv_columns``.
CSV_COLUMNS: Final = (
    ("sequence", "連番", "Sequence"),
    ("at_local", "日時（{zone}）", "Time ({zone})"),
    ("actor", "利用者", "Person"),
    ("event_label", "出来事", "Event"),
    ("outcome_label", "結果", "Outcome"),
    ("source_address", "接続元", "From address"),
    ("target_user_id", "対象の利用者ID", "Target user ID"),
    ("detail", "詳細", "Detail"),
    ("event", "種別コード", "Event code"),
    ("at", "日時（UTC）", "Time (UTC)"),
    ("id", "記録ID", "Record ID"),
    ("hash", "ハッシュ（SHA-256）", "Hash (SHA-256)"),
)
# How the local-time column names a zone; any other zone by its IANA name.
ZONE_NAMES: Final = {"Asia/Tokyo": ("日本時間", "Japan time")}
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
    "session_resumed": "リモート接続の再開（サーバー再起動後）",
    "step_up": "本人の再確認（2 段階目）",
    "policy_violation": "ポリシー違反",
    "client_blocked": "貼り付け・ドロップの阻止",
    "access_denied": "権限のない操作の拒否",
    "viewer_refused": "画面接続の拒否",
    "audit_exported": "監査ログの書き出し",
    "audit_purged": "監査ログの削除（保存期間後）",
    "audit_chain_broken": "監査ログの書き換えの疑い",
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
    "source_refused": "許可されていない接続元からの拒否",
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
EVENT_LABELS_EN: Final = {
    "login_password": "Sign-in (password)",
    "login_mfa": "Sign-in (second factor)",
    "lockout": "Lockout",
    "logout": "Sign-out",
    "logout_everywhere": "Sign-out on every device",
    "session_revoked": "Session ended",
    "enrollment_started": "Enrollment started",
    "mfa_enrolled": "Second factor added",
    "mfa_removed": "Second factor removed",
    "recovery_code_used": "Recovery code used",
    "recovery_codes_issued": "Recovery codes issued",
    "password_changed": "Password changed",
    "invite": "Invitation",
    "role_change": "Role changed",
    "disable": "Account disabled",
    "enable": "Account enabled",
    "factors_reset": "Factors reset",
    "agent_token_rotated": "Agent token issued",
    "agent_refused": "Agent refused",
    "viewer_ticket": "Connection ticket issued",
    "session_started": "Remote session started",
    "session_ended": "Remote session ended",
    "session_resumed": "Remote session resumed (after a server restart)",
    "step_up": "Identity confirmed again (second factor)",
    "policy_violation": "Policy violation",
    "client_blocked": "Paste or drop blocked",
    "access_denied": "Access refused",
    "viewer_refused": "Screen connection refused",
    "audit_exported": "Audit log exported",
    "audit_purged": "Audit log purged (after retention)",
    "audit_chain_broken": "Possible audit log tampering",
    "enrollment_code_created": "PC enrollment code issued",
    "enrollment_refused": "PC enrollment refused",
    "host_enrolled": "PC enrolled",
    "cert_issued": "PC certificate issued",
    "cert_renewed": "PC certificate renewed",
    "cert_revoked": "PC certificate revoked",
    "session_terminated": "Remote session ended by an admin",
    "settings_changed": "Settings changed",
    "report_reviewed": "Report reviewed",
    "report_exported": "Report exported",
    "alert_settings_changed": "Alert settings changed",
    "alert_webhook_secret_rotated": "Webhook secret renewed",
    "alert_acknowledged": "Alert acknowledged",
    "alert_test": "Test alert sent",
    "alert_delivery_failed": "Alert delivery failed",
    "session_refused": "Remote session refused",
    "source_refused": "Refused: not from an allowed network",
    "grant_created": "Access grant added",
    "grant_changed": "Access grant changed",
    "grant_deleted": "Access grant removed",
    "time_zone_changed": "Time zone changed",
    "vendor_requested": "Vendor access requested",
    "vendor_approved": "Vendor access approved",
    "vendor_denied": "Vendor access denied",
    "vendor_approval_used": "Vendor approval used",
    "device_registered": "Device registered",
    "device_approved": "Device approved",
    "device_denied": "Device denied",
    "device_revoked": "Device revoked",
}
OUTCOME_LABELS: Final = {"success": "成功", "failure": "失敗", "denied": "拒否"}
OUTCOME_LABELS_EN: Final = {"success": "Success", "failure": "Failure", "denied": "Denied"}


def event_label(code: str, lang: Lang) -> str:
    """The event's words in ``lang`` (the code itself only for a code without words)."""
    return (EVENT_LABELS_EN if lang == "en" else EVENT_LABELS).get(code, code)


def outcome_label(code: str, lang: Lang) -> str:
    return (OUTCOME_LABELS_EN if lang == "en" else OUTCOME_LABELS).get(code, code)

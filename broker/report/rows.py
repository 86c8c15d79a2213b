"""The rows of the MHLW checklist (../shared/MHLW.md) the product evidences, each with its
live evidence — the setting and its value, counts from the facts, pass or attention — and
what stays the clinic's responsibility (責任分界).

A row the product cannot evidence says so and is marked ``attention`` or ``clinic`` rather
than passing. Texts come in Japanese and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from broker.config import Settings
from broker.identity import passwords
from broker.report.facts import DORMANT_DAYS, RECENT_DAYS, Facts

# The guideline asks for regular review of the access log; a quarter is the longest gap
# the report accepts before it asks for attention.
REVIEW_DAYS: Final = 92
# MHLW.md row 8 asks for short idle times; the console allows up to an hour, so more than
# this is shown as needing attention rather than refused.
IDLE_ATTENTION_S: Final = 15 * 60
ADMIN_ATTENTION_COUNT: Final = 3


class Status(StrEnum):
    PASS = "pass"  # noqa: S105  (a status, not a secret)
    ATTENTION = "attention"
    CLINIC = "clinic"  # the clinic's own measure; the product cannot evidence it


@dataclass(frozen=True)
class Text:
    ja: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.ja


@dataclass(frozen=True)
class Row:
    number: int  # the row of ../shared/MHLW.md
    requirement: Text
    evidence: Text
    value: str  # the figure the evidence rests on, language-neutral ("12/12", "600 s")
    status: Status


# 責任分界: what Mamori cannot do for the clinic (MHLW.md row 19).
CLINIC_DUTIES: Final = (
    Text(
        "リモートアクセスの運用管理規程（誰が、何のために、どこから使うか）を文書で定め、職員に周知する",
        "Write the remote-access rules (who, why, from where) and make staff aware of them",
    ),
    Text(
        "申請された閲覧端末が本人の管理する端末かを確かめてから承認する（BYOD は原則禁止）",
        "Approve a viewing device only after checking it is the person's managed device "
        "(BYOD is prohibited in principle)",
    ),
    Text(
        "閲覧端末と院内端末の OS・ブラウザ・ウイルス対策を最新に保つ",
        "Keep the OS, browser and antivirus of viewing devices and clinic PCs up to date",
    ),
    Text(
        "監査ログを定期的に確認し、確認したことをこの報告書に記録する",
        "Review the audit log regularly and mark the review on this report",
    ),
    Text(
        "入職・退職・異動に合わせてアカウントを作成・無効化する",
        "Create and disable accounts as people join, leave or change roles",
    ),
    Text(
        "保守業者との契約で責任分界とログの確認方法を取り決め、保守作業には原則立ち会う",
        "Agree responsibilities and log checks in the maintenance contract; attend vendor work "
        "in principle",
    ),
    Text(
        "電子カルテのバックアップと、障害・ランサムウェア被害時の事業継続計画（BCP）を用意する",
        "Keep EHR backups and a business-continuity plan for outages and ransomware",
    ),
    Text(
        "院内ネットワーク（ルーター・ファイアウォール）で不要な受信ポートを閉じる",
        "Close unneeded inbound ports on the clinic's router and firewall",
    ),
)


def _count(n: int, noun: str) -> str:
    """'1 admin', '2 admins' (English only: Japanese counts take no plural)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def rows(facts: Facts, settings: Settings) -> list[Row]:
    """One row per checklist item the product evidences, in the checklist's order."""
    f, p = facts, facts.policy
    on_off = {True: ("オン", "on"), False: ("オフ", "off")}
    wm_ja, wm_en = on_off[p.watermark]
    all_two = f.users > 0 and f.two_kinds == f.users
    admins_ok = f.admins_two_kinds == len(f.admins) and len(f.admins) <= ADMIN_ATTENTION_COUNT
    idle_ok = p.idle_s <= IDLE_ATTENTION_S
    review_due = facts.checked_at - timedelta(days=REVIEW_DAYS)
    return [
        Row(
            1,
            Text("画面転送による安全なリモートアクセス", "Remote access by screen transfer"),
            Text(
                "送るのは暗号化された画面のみ。クリップボード・ファイル転送・印刷の機能は存在しない"
                f"（設定で有効にできない）。透かし: {wm_ja}",
                "Only encrypted pixels leave; clipboard, file transfer and printing do not exist "
                f"(no setting enables them). Watermark: {wm_en}",
            ),
            "clipboard/file/print: none",
            Status.PASS,
        ),
        Row(
            2,
            Text("接続できる人・端末・時間の事前承認", "Who may connect to what, approved ahead"),
            Text(
                f"有効な接続許可 {f.grants} 件"
                f"（うち曜日・時間帯の指定あり {f.grants_windowed} 件）。"
                "許可ごとに作成者と日時を記録し、削除しても履歴は残る。許可のない接続は拒否",
                f"{_count(f.grants, 'grant')} in force "
                f"({f.grants_windowed} limited to weekly hours). "
                "Each keeps who made it and when, and stays on record when removed. "
                "Anything without a grant is refused",
            ),
            str(f.grants),
            Status.PASS,
        ),
        Row(
            3,
            Text("外部端末に患者情報を残さない", "No patient data left on outside devices"),
            Text(
                f"画面以外を送る試みの遮断: 過去 {RECENT_DAYS} 日で {f.violations_recent} 件"
                f"（違反時に接続を終了: {on_off[p.end_on_violation][0]}）",
                f"Attempts to move anything but pixels blocked: {f.violations_recent} in the "
                f"last {RECENT_DAYS} days (end session on violation: "
                f"{on_off[p.end_on_violation][1]})",
            ),
            str(f.violations_recent),
            Status.PASS,
        ),
        Row(
            4,
            Text("閲覧端末の台帳（承認制）", "A register of viewing devices, approved"),
            Text(
                f"承認済み {f.devices['approved']} 台、承認待ち {f.devices['pending']} 台、"
                f"拒否 {f.devices['denied']} 台、取り消し {f.devices['revoked']} 台。"
                "未承認の端末からは接続できない（端末の鍵で署名したチャレンジが毎回必要）。"
                f"{DORMANT_DAYS} 日以上使われていない承認済み端末: {f.devices_unused} 台",
                f"Approved {f.devices['approved']}, waiting {f.devices['pending']}, denied "
                f"{f.devices['denied']}, revoked {f.devices['revoked']}. No session from a "
                "device not approved (each needs a challenge signed by the device's key). "
                f"Approved devices unused for {DORMANT_DAYS}+ days: {f.devices_unused}",
            ),
            f"{f.devices['approved']}/{f.devices['pending']}",
            Status.PASS
            if f.devices["pending"] == 0 and f.devices_unused == 0
            else Status.ATTENTION,
        ),
        Row(
            5,
            Text("全利用者の二要素認証（異なる種類）", "Two factors of different kinds for all"),
            Text(
                "パスワードと認証アプリまたはパスキーを持つ有効なアカウント: "
                f"{f.two_kinds}/{f.users}",
                f"Enabled accounts with a password and an authenticator app or passkey: "
                f"{f.two_kinds}/{f.users}",
            ),
            f"{f.two_kinds}/{f.users}",
            Status.PASS if all_two else Status.ATTENTION,
        ),
        Row(
            6,
            Text("パスワードの強さと再利用禁止", "Password strength and no reuse"),
            Text(
                f"英数記号混在 {passwords.MIN_MIXED_CHARS} 文字以上または "
                f"{passwords.MIN_PLAIN_CHARS} 文字以上、"
                f"直近 {passwords.HISTORY_DEPTH} 回の再利用禁止、"
                "よく使われるパスワードの拒否、argon2id で保存。初期パスワードはなく本人が設定。"
                f"最初のパスワード未設定のアカウント: {f.no_password}",
                f"{passwords.MIN_MIXED_CHARS}+ mixed or {passwords.MIN_PLAIN_CHARS}+ characters, "
                f"none of the last {passwords.HISTORY_DEPTH}, common passwords refused, stored "
                "with argon2id. No initial passwords: each person sets their own. Accounts "
                f"still without a first password: {f.no_password}",
            ),
            f"{passwords.MIN_MIXED_CHARS}/{passwords.MIN_PLAIN_CHARS}",
            Status.PASS,
        ),
        Row(
            7,
            Text("連続失敗でのロック", "Lockout after repeated failures"),
            Text(
                f"{settings.lockout_window_s // 60} 分間に {settings.lockout_threshold} 回失敗で "
                f"{settings.lockout_duration_s // 60} 分ロック。過去 {RECENT_DAYS} 日のロック: "
                f"{f.lockouts_recent} 件",
                f"{settings.lockout_threshold} failures in {settings.lockout_window_s // 60} min "
                f"lock for {settings.lockout_duration_s // 60} min. Lockouts in the last "
                f"{RECENT_DAYS} days: {f.lockouts_recent}",
            ),
            f"{settings.lockout_threshold}/{settings.lockout_window_s // 60} min",
            Status.PASS,
        ),
        Row(
            8,
            Text("無操作時の切断（クリアスクリーン）", "Idle sessions end (clear screen)"),
            Text(
                f"リモート画面の無操作切断 {_minutes(p.idle_s)}、1 回の上限 {_minutes(p.max_s)}、"
                f"ブラウザのサインインの無操作切断 {_minutes(settings.idle_timeout_s)}",
                f"Remote screen idle limit {_minutes(p.idle_s)}, longest session "
                f"{_minutes(p.max_s)}, browser sign-in idle limit "
                f"{_minutes(settings.idle_timeout_s)}",
            ),
            _minutes(p.idle_s),
            Status.PASS if idle_ok else Status.ATTENTION,
        ),
        Row(
            9,
            Text("管理者は少数・記名・二要素", "Few, named admins with two factors"),
            Text(
                f"管理者 {len(f.admins)} 名（{', '.join(f.admins) or 'なし'}）、うち二要素 "
                f"{f.admins_two_kinds} 名",
                f"{_count(len(f.admins), 'admin')} ({', '.join(f.admins) or 'none'}), "
                f"{f.admins_two_kinds} with two factor kinds",
            ),
            f"{f.admins_two_kinds}/{len(f.admins)}",
            Status.PASS if admins_ok else Status.ATTENTION,
        ),
        Row(
            10,
            Text("アカウントの棚卸し・業者専用アカウント", "Accounts follow HR; vendor accounts"),
            Text(
                f"{DORMANT_DAYS} 日以上サインインのない有効アカウント: {len(f.dormant)} 件"
                f"{'（' + ', '.join(f.dormant) + '）' if f.dormant else ''}。"
                f"業者アカウント {f.vendors} 件、無効化済み {f.disabled} 件",
                f"Enabled accounts without a sign-in for {DORMANT_DAYS}+ days: "
                f"{len(f.dormant)}{' (' + ', '.join(f.dormant) + ')' if f.dormant else ''}. "
                f"Vendor accounts {f.vendors}, disabled {f.disabled}",
            ),
            str(len(f.dormant)),
            Status.PASS if not f.dormant else Status.ATTENTION,
        ),
        Row(
            11,
            Text(
                "アクセスログの記録・改ざん防止・定期確認",
                "Access log: kept, tamper-evident, reviewed",
            ),
            Text(
                (
                    f"監査ログはハッシュの鎖と署名で保護: {f.chain.records} 件を確認、改ざんなし"
                    if f.chain.ok
                    else "監査ログの鎖が記録 "
                    f"{f.chain.problem.sequence if f.chain.problem else '?'}"
                    " 件目で切れています（改ざんの疑い）"
                )
                + f"。過去 {RECENT_DAYS} 日の接続記録 {f.sessions_recent} 件。最終確認: "
                + (f"{f.last_review_at:%Y-%m-%d}" if f.last_review_at else "なし"),
                (
                    f"The audit log is hash-chained and signed: {f.chain.records} records "
                    "verified, untouched"
                    if f.chain.ok
                    else "The audit chain breaks at record "
                    f"{f.chain.problem.sequence if f.chain.problem else '?'} (possible tampering)"
                )
                + f". Sessions recorded in the last {RECENT_DAYS} days: {f.sessions_recent}. "
                + "Last reviewed: "
                + (f"{f.last_review_at:%Y-%m-%d}" if f.last_review_at else "never"),
            ),
            f"{f.chain.records}",
            Status.PASS
            if f.chain.ok and f.last_review_at is not None and f.last_review_at >= review_due
            else Status.ATTENTION,
        ),
        Row(
            12,
            Text("保守業者の接続は都度承認・記録", "Vendor access approved per session, recorded"),
            Text(
                "業者アカウントの接続は管理者が 1 回ごとに承認（承認なしは拒否）。"
                f"過去 {RECENT_DAYS} 日: "
                f"承認 {f.vendor_approvals_recent} 件、接続 {f.vendor_sessions_recent} 件",
                "Each vendor session needs an admin's approval of that one session (refused "
                f"without). Last {RECENT_DAYS} days: "
                f"{_count(f.vendor_approvals_recent, 'approval')}, "
                f"{_count(f.vendor_sessions_recent, 'session')}",
            ),
            f"{f.vendor_approvals_recent}/{f.vendor_sessions_recent}",
            Status.PASS,
        ),
        Row(
            13,
            Text("ログの保存期間", "Log retention period"),
            Text(
                f"監査ログは {settings.audit_retention_days} 日（約 "
                f"{settings.audit_retention_days // 365} 年）保存し、期間前は削除できない。"
                "削除は書き出しの後に限る",
                f"Audit records are kept {settings.audit_retention_days} days (about "
                f"{settings.audit_retention_days // 365} years) and cannot be purged earlier; "
                "a purge exports them first",
            ),
            f"{settings.audit_retention_days} d",
            Status.PASS,
        ),
        Row(
            14,
            Text("TLS 1.3 とクライアント証明書", "TLS 1.3 and client certificates"),
            Text(
                "ブラウザとブローカー間は TLS 1.3 のみ。院内の端末とブローカー間は "
                f"{'TLS 1.2 も許可（設定）' if settings.agent_tls12 else 'TLS 1.3 のみ'}、"
                "医療機関ごとの認証局が発行したクライアント証明書で相互認証。"
                f"有効な証明書を持つ端末: {f.hosts_certified}/{f.hosts}",
                "Browser to broker: TLS 1.3 only. Clinic PC to broker: "
                f"{'TLS 1.2 allowed (setting)' if settings.agent_tls12 else 'TLS 1.3 only'}, "
                "mutual authentication with client certificates from the clinic's own CA. "
                f"PCs with a live certificate: {f.hosts_certified}/{f.hosts}",
            ),
            f"{f.hosts_certified}/{f.hosts}",
            Status.PASS
            if not settings.agent_tls12 and f.hosts_certified == f.hosts
            else Status.ATTENTION,
        ),
        Row(
            15,
            Text("両端の相互認証", "Both ends authenticate each other"),
            Text(
                "院内の端末はクライアント証明書（相互 TLS）で、閲覧する人は二要素と承認済み端末の"
                "鍵で署名したチャレンジで、それぞれブローカーに認証される",
                "Clinic PCs authenticate with client certificates (mutual TLS); people with two "
                "factors plus a challenge signed by their approved device's key",
            ),
            "mTLS + device key",
            Status.PASS,
        ),
        Row(
            16,
            Text("受信ポートを開けない", "No inbound port at the clinic"),
            Text(
                "院内のエージェントは外向きにだけ接続し、待ち受けポートを持たない",
                "The clinic PC's agent only dials out and listens on no port",
            ),
            "outbound only",
            Status.PASS,
        ),
        _sources_row(f),
        Row(
            18,
            Text("ゲートウェイを最新に保つ", "Keep the gateway patched"),
            _patched_evidence(f),
            f"{len(f.agents_outdated)}/{f.hosts}",
            Status.PASS if not f.agents_outdated else Status.ATTENTION,
        ),
    ]


_AUDIENCE_WORDS: Final = {
    "everyone": ("全員", "everyone"),
    "admin": ("管理者", "admins"),
    "vendor": ("保守業者", "vendors"),
}


def _sources_row(f: Facts) -> Row:
    """Row 17: the allow-lists in force, each network by name. None set is the clinic's
    choice (it may restrict at its router instead), shown as such rather than passing."""
    lists = {a: f.source_networks.get(a, []) for a in _AUDIENCE_WORDS}
    requirement = Text("接続元の制限", "Restricting where connections come from")
    if not any(lists.values()):
        return Row(
            17,
            requirement,
            Text(
                "接続元の制限は設定されていない（どこからでもサインインできる）。"
                "設定画面で、全員・管理者・保守業者ごとに許可するネットワークを指定できる。"
                "ルーターやファイアウォールで制限してもよい",
                "No source restriction is set (sign-in from anywhere). The settings page can "
                "list the networks allowed for everyone, admins and vendors; the router or "
                "firewall may restrict them instead",
            ),
            "none",
            Status.CLINIC,
        )
    parts_ja, parts_en, counts = [], [], []
    for audience, (ja, en) in _AUDIENCE_WORDS.items():
        networks = lists[audience]
        counts.append(f"{audience} {len(networks)}")
        if networks:
            parts_ja.append(f"{ja}: {'、'.join(networks)}")
            parts_en.append(f"{en}: {', '.join(networks)}")
        else:
            parts_ja.append(f"{ja}: 制限なし")
            parts_en.append(f"{en}: not restricted")
    return Row(
        17,
        requirement,
        Text(
            "サインイン時と接続のたびに接続元を確かめ、許可されたネットワーク以外からは拒否して"
            f"記録する。{'。'.join(parts_ja)}",
            "The source address is checked at sign-in and at every session; anything outside "
            f"the allowed networks is refused and audited. {'. '.join(parts_en)}",
        ),
        ", ".join(counts),
        Status.PASS,
    )


def _patched_evidence(f: Facts) -> Text:
    """Row 18: the broker's version, and each agent older than it (or of unknown version)
    by name, so the clinic knows which PCs to update."""
    listed_ja = "、".join(f"{name}（{version or '不明'}）" for name, version in f.agents_outdated)
    listed_en = ", ".join(f"{name} ({version or 'unknown'})" for name, version in f.agents_outdated)
    if not f.agents_outdated:
        return Text(
            f"サーバーの版 {f.broker_version}。院内の端末 {f.hosts} 台のエージェントはすべて"
            "サーバーと同じか新しい版",
            f"Server version {f.broker_version}. The agents of all {f.hosts} clinic PCs are "
            "the server's version or newer",
        )
    return Text(
        f"サーバーの版 {f.broker_version}。サーバーより古い（または版が不明な）エージェント "
        f"{len(f.agents_outdated)} 台: {listed_ja}。これらの端末のエージェントを更新してください",
        f"Server version {f.broker_version}. Agents older than the server or of unknown "
        f"version ({len(f.agents_outdated)}): {listed_en}. Update the agent on these PCs",
    )

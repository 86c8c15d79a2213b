"""Alerts in plain words, Japanese first: the title, what happened, and what to do.

Written for a clinic director with no IT staff: who, which PC, when (in the clinic's time),
and one concrete next step. Used for the mail, the webhook's ``title``/``message`` and the
console (which shows the language the reader chose), so the three never disagree.

Each kind names the facts it reads; a missing fact shows as "—" rather than failing, since
an alert must always be told.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from broker.alerts.records import Fact, Kind

Language = str  # "ja" or "en"
LANGUAGES: Final = ("ja", "en")


@dataclass(frozen=True)
class AlertText:
    title: str
    message: str
    action: str


VIOLATIONS: Final[dict[str, tuple[str, str]]] = {
    "sdp_refused": ("許可されていない接続方法", "a connection method that is not allowed"),
    "foreign_channel": (
        "画面と操作以外の通信路を開くこと",
        "opening a channel other than screen and input",
    ),
    "foreign_message": ("画面と操作以外のデータの送信", "sending data other than screen and input"),
    "oversized_message": ("許可されていない大きさのデータの送信", "sending oversized data"),
    "input_flood": ("大量の操作の送信", "flooding the PC with input"),
}
# What changed, for factors_changed: a closed set, as the routes that raise it.
CHANGES: Final[dict[str, tuple[str, str]]] = {
    "totp_enrolled": (
        "認証アプリが登録（または交換）されました",
        "an authenticator app was set up",
    ),
    "totp_removed": ("認証アプリが削除されました", "the authenticator app was removed"),
    "passkey_added": ("パスキーが追加されました", "a passkey was added"),
    "passkey_removed": ("パスキーが削除されました", "a passkey was removed"),
    "recovery_codes": ("回復コードが作り直されました", "new recovery codes were made"),
    "password": ("パスワードが変更されました", "the password was changed"),
}
SEVERITY_WORDS: Final[dict[str, tuple[str, str]]] = {
    "critical": ("至急", "urgent"),
    "warning": ("要確認", "please check"),
    "info": ("お知らせ", "notice"),
}


class _Facts:
    """Facts read for text: missing ones show as "—"; times in the clinic's zone."""

    def __init__(self, facts: Mapping[str, Fact], zone: str, lang: Language) -> None:
        self._facts = facts
        self._zone = ZoneInfo(zone)
        self._lang = lang

    def __getitem__(self, name: str) -> str:
        value = self._facts.get(name)
        return "—" if value is None or value == "" else str(value)

    def time(self, name: str) -> str:
        value = self._facts.get(name)
        if not isinstance(value, str):
            return "—"
        try:
            return local_time(datetime.fromisoformat(value), self._zone, self._lang)
        except ValueError:
            return "—"

    def who(self) -> str:
        """The person as the clinic knows them, and their account: 山田 太郎（yamada）."""
        name, account = self["user"], self["username"]
        if account == "—" or account == name:
            return name
        return f"{name}（{account}）" if self._lang == "ja" else f"{name} ({account})"

    def change_ja(self) -> str:
        return CHANGES.get(str(self._facts.get("change") or ""), ("設定が変わりました", ""))[0]

    def change_en(self) -> str:
        words = CHANGES.get(str(self._facts.get("change") or ""))
        return words[1] if words else "a sign-in setting changed"

    def violation(self) -> str:
        code = str(self._facts.get("violation") or "")
        words = VIOLATIONS.get(code)
        if words is None:
            return code or "—"
        return words[0] if self._lang == "ja" else words[1]


def local_time(at: datetime, zone: ZoneInfo, lang: Language) -> str:
    local = at.astimezone(zone)
    if lang == "ja":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M} ({zone.key})"


def _ja(kind: Kind, f: _Facts) -> AlertText:
    match kind:
        case Kind.LOCKOUT if f["scopes"] == "source":
            return AlertText(
                f"接続元 {f['source']} からのサインインを止めました",
                f"接続元 {f['source']} からのサインインで失敗が続いたため"
                f"（最後は {f.who()} さんの名前）、この接続元を {f['minutes']} 分間止めました。",
                "心当たりがなければ、パスワードを当てようとする攻撃です。本人に確認してください。",
            )
        case Kind.LOCKOUT:
            return AlertText(
                f"{f.who()} さんのアカウントをロックしました",
                f"{f.who()} さんのサインインで失敗が続いたため、"
                f"{f['minutes']} 分間サインインできないようにしました（接続元 {f['source']}）。",
                "本人の入力ミスでなければ、パスワードが狙われています。本人に確認してください。",
            )
        case Kind.MFA_FAILURES:
            return AlertText(
                f"{f.who()} さんの 2 段階目の確認が続けて失敗しています",
                "パスワードは正しいのに、2 段階目の確認（認証アプリ・パスキー）が"
                f" {f['window_minutes']} 分間に {f['count']} 回失敗しました"
                f"（接続元 {f['source']}）。",
                "パスワードを他人に知られているおそれがあります。"
                "本人に確認し、パスワードを変えてもらってください。",
            )
        case Kind.POLICY_VIOLATION:
            return AlertText(
                f"{f['host']} で許可されていない操作を止めました",
                f"{f.who()} さんが院内の端末「{f['host']}」に接続中、"
                f"{f.violation()}を試みたため止めました。",
                "患者さんの情報を持ち出そうとした可能性があります。本人に事情を確認してください。",
            )
        case Kind.OUTSIDE_HOURS:
            return AlertText(
                f"{f.who()} さんが時間外にサインインしました",
                f"{f.who()} さんが {f.time('at')} にサインインしました。通常の時間は"
                f" {f['usual_start']}〜{f['usual_end']} です（接続元 {f['source']}）。",
                "本人の予定どおりでなければ、アカウントが使われていないか確認してください。",
            )
        case Kind.AGENT_OFFLINE:
            return AlertText(
                f"院内の端末「{f['host']}」がつながっていません",
                f"院内の端末「{f['host']}」が {f['minutes']} 分以上 Mamori につながっていません"
                f"（最後の接続 {f.time('last_seen_at')}）。",
                "端末の電源とネットワークを確認してください。電源を切ったのであれば対応は不要です。",
            )
        case Kind.DEVICE_PENDING:
            return AlertText(
                f"{f.who()} さんの新しい端末が承認を待っています",
                f"{f.who()} さんが新しい端末（{f['device']}）を登録しました。"
                "承認するまで接続できません。",
                "本人の端末であることを確かめてから、管理画面で承認してください。"
                "心当たりがなければ拒否してください。",
            )
        case Kind.AGENT_ENROLLED:
            return AlertText(
                f"院内の端末「{f['host']}」が登録されました",
                f"院内の端末「{f['host']}」に Mamori エージェントが登録されました。",
                "心当たりがなければ、管理画面でこの端末の証明書を取り消してください。",
            )
        case Kind.AGENT_OUTDATED:
            return AlertText(
                f"院内の端末「{f['host']}」のエージェントが古いままです",
                f"院内の端末「{f['host']}」の Mamori エージェント（{f['version']}）は、"
                f"サーバー（{f['broker_version']}）より古い版です。",
                "古い版には修正済みの弱点が残っていることがあります。"
                "この端末のエージェントを更新してください。",
            )
        case Kind.CERTIFICATE_EXPIRING:
            return AlertText(
                f"院内の端末「{f['host']}」の証明書がまもなく期限切れです",
                f"院内の端末「{f['host']}」の証明書は {f.time('expires_at')} に期限が切れます。",
                "端末がつながっていれば自動で更新されます。つながっていない場合は端末を確認してください。",
            )
        case Kind.FACTORS_CHANGED:
            return AlertText(
                f"{f.who()} さんのサインイン方法が変わりました",
                f"{f.who()} さんの{f.change_ja()}（接続元 {f['source']}）。",
                "本人の操作でなければ、アカウントが乗っ取られようとしています。"
                "本人に確認し、管理画面で 2 段階目をリセットしてください。",
            )
        case Kind.TEST:
            return AlertText(
                "テスト通知",
                f"{f.who()} さんが送ったテスト通知です。",
                "この通知が届いていれば、設定は正しく動いています。",
            )


def _en(kind: Kind, f: _Facts) -> AlertText:
    match kind:
        case Kind.LOCKOUT if f["scopes"] == "source":
            return AlertText(
                f"Sign-ins from {f['source']} were paused",
                f"Sign-ins from {f['source']} failed repeatedly (the last as {f.who()}), so that"
                f" address is paused for {f['minutes']} minutes.",
                "If nobody there mistyped, someone is guessing passwords. Ask the person.",
            )
        case Kind.LOCKOUT:
            return AlertText(
                f"{f.who()}'s account was locked",
                f"Sign-in for {f.who()} failed repeatedly, so it is paused for"
                f" {f['minutes']} minutes (from {f['source']}).",
                "If this was not the person mistyping, someone is trying their password. Ask them.",
            )
        case Kind.MFA_FAILURES:
            return AlertText(
                f"{f.who()}'s second step keeps failing",
                "The password was right, but the second step (app or passkey) failed"
                f" {f['count']} times within {f['window_minutes']} minutes (from {f['source']}).",
                "Someone else may know this password. Ask the person and have them change it.",
            )
        case Kind.POLICY_VIOLATION:
            return AlertText(
                f"Blocked a forbidden action on {f['host']}",
                f"While {f.who()} was connected to the clinic PC {f['host']}, Mamori blocked"
                f" {f.violation()}.",
                "Someone may have tried to take patient data out. Ask the person what happened.",
            )
        case Kind.OUTSIDE_HOURS:
            return AlertText(
                f"{f.who()} signed in outside usual hours",
                f"{f.who()} signed in at {f.time('at')}; usual hours are {f['usual_start']}-"
                f"{f['usual_end']} (from {f['source']}).",
                "If the person did not plan this, check whether the account is being misused.",
            )
        case Kind.AGENT_OFFLINE:
            return AlertText(
                f"Clinic PC {f['host']} is offline",
                f"The clinic PC {f['host']} has not been connected to Mamori for"
                f" {f['minutes']} minutes or more (last seen {f.time('last_seen_at')}).",
                "Check its power and network. Nothing to do if it was switched off on purpose.",
            )
        case Kind.DEVICE_PENDING:
            return AlertText(
                f"A new device of {f.who()} is waiting for approval",
                f"{f.who()} registered a new device ({f['device']})."
                " It cannot connect until approved.",
                "Make sure it is theirs, then approve it in the console; deny it if in doubt.",
            )
        case Kind.AGENT_ENROLLED:
            return AlertText(
                f"Clinic PC {f['host']} was enrolled",
                f"A Mamori agent was enrolled on the clinic PC {f['host']}.",
                "If you did not expect this, revoke the PC's certificate in the console.",
            )
        case Kind.AGENT_OUTDATED:
            return AlertText(
                f"The agent on clinic PC {f['host']} is out of date",
                f"The Mamori agent on the clinic PC {f['host']} ({f['version']}) is older than"
                f" the server ({f['broker_version']}).",
                "Older versions may still have weaknesses that are fixed. Update the agent on"
                " this PC.",
            )
        case Kind.CERTIFICATE_EXPIRING:
            return AlertText(
                f"The certificate of clinic PC {f['host']} expires soon",
                f"The certificate of the clinic PC {f['host']} expires at {f.time('expires_at')}.",
                "It renews itself while the PC is connected; if it is not, check the PC.",
            )
        case Kind.FACTORS_CHANGED:
            return AlertText(
                f"{f.who()}'s sign-in methods changed",
                f"For {f.who()}: {f.change_en()} (from {f['source']}).",
                "If the person did not do this, someone is taking over the account. Ask them"
                " and reset their second factors in the console.",
            )
        case Kind.TEST:
            return AlertText(
                "Test alert",
                f"A test alert sent by {f.who()}.",
                "If you received this, the alert settings work.",
            )


_RENDER: Final[dict[Language, Callable[[Kind, _Facts], AlertText]]] = {"ja": _ja, "en": _en}


def render(kind: str, facts: Mapping[str, Fact], zone: str, lang: Language) -> AlertText:
    """The alert in ``lang``; an unknown kind (a newer broker's row) gets a generic text."""
    try:
        known = Kind(kind)
    except ValueError:
        generic = ("お知らせ", kind) if lang == "ja" else ("Notice", kind)
        return AlertText(generic[0], generic[1], "")
    return _RENDER[lang](known, _Facts(facts, zone, lang))


def mail_subject(kind: str, severity: str, facts: Mapping[str, Fact], zone: str, org: str) -> str:
    """``【至急】… （さくら診療所）``: the severity word first so a phone's list shows it."""
    words = SEVERITY_WORDS.get(severity, SEVERITY_WORDS["info"])
    title = render(kind, facts, zone, "ja").title
    return f"【{words[0]}】{title}（{org}）"


def mail_body(
    kind: str, facts: Mapping[str, Fact], zone: str, org: str, at: datetime, console_url: str
) -> str:
    """Japanese first, then the same in English, then where to look."""
    ja = render(kind, facts, zone, "ja")
    en = render(kind, facts, zone, "en")
    tz = ZoneInfo(zone)
    return (
        f"{org} の管理者さまへ\n\n"
        f"{ja.message}\n\n{ja.action}\n\n"
        f"日時: {local_time(at, tz, 'ja')}\n"
        f"管理画面: {console_url}\n\n"
        "-- \n"
        f"{en.title}\n{en.message}\n{en.action}\n"
        f"Time: {local_time(at, tz, 'en')}\n\n"
        "Mamori からの自動送信です。このメールへの返信は届きません。\n"
    )

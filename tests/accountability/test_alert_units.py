"""Alert logic without a network: backoff with jitter, usual hours across midnight, which
webhook addresses are allowed, recipients, facts, and every kind in plain words."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from broker.alerts import settings as alert_settings
from broker.alerts import text as alert_text
from broker.alerts.channels import build_mail
from broker.alerts.delivery import RetryPolicy
from broker.alerts.destinations import WebhookPolicy
from broker.alerts.records import SEVERITY, Kind, clean_facts
from broker.config import Settings
from broker.errors import ConfigError, SettingRejected
from certs.authority import ServerFiles
from devkit.broker import random_secret_key

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 21, 13, 5, tzinfo=UTC)  # 22:05 in Tokyo
ZONE = "Asia/Tokyo"
FULL_FACTS: dict[str, object] = {
    "user": "山田 太郎",
    "username": "yamada",
    "source": "203.0.113.7",
    "minutes": 15,
    "scopes": "account",
    "count": 3,
    "window_minutes": 10,
    "host": "受付PC",
    "host_id": "uketsuke-pc",
    "violation": "foreign_channel",
    "at": AT,
    "usual_start": "07:00",
    "usual_end": "21:00",
    "last_seen_at": AT,
    "device": "Chrome on Windows",
    "expires_at": AT,
    "version": "0.9.0",
    "broker_version": "0.10.0",
}


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    """The n-th wait lies in [d/2, d] for d = base·2^(n-1) capped: never zero, never
    beyond the cap, and not the same every time."""
    retry = RetryPolicy(base_s=30, max_s=3600, max_attempts=8)
    for attempts in range(1, 12):
        nominal = min(3600, 30 * 2 ** (attempts - 1))
        waits = [retry.delay_s(attempts) for _ in range(200)]
        assert all(nominal / 2 <= w <= nominal for w in waits), attempts
        assert len(set(waits)) > 1


@pytest.mark.parametrize(
    ("hours", "minute", "inside"),
    [
        ((420, 1260), 420, True),
        ((420, 1260), 1259, True),
        ((420, 1260), 1260, False),
        ((420, 1260), 60, False),
        ((1320, 360), 1380, True),  # 22:00-06:00, at 23:00
        ((1320, 360), 120, True),
        ((1320, 360), 720, False),
    ],
)
def test_usual_hours_may_cross_midnight(hours: tuple[int, int], minute: int, inside: bool) -> None:
    """07:00-21:00 holds 07:00 but not 21:00; 22:00-06:00 holds 23:00 and 02:00, not noon."""
    assert alert_settings.within(hours, minute) is inside


STRICT = WebhookPolicy()
DEV = WebhookPolicy(loopback_http=True)
ON_PREM = WebhookPolicy(private=True)


@pytest.mark.parametrize(
    ("url", "policy", "code"),
    [
        ("https://hooks.example.org/a?b=c", STRICT, None),
        ("http://127.0.0.1:8080/hook", DEV, None),
        ("http://localhost:8080/hook", DEV, None),
        ("http://127.0.0.1:8080/hook", STRICT, "webhook_url_not_https"),
        ("https://127.0.0.1/hook", STRICT, "webhook_url_private"),
        ("https://localhost/hook", STRICT, "webhook_url_private"),
        ("https://[::ffff:127.0.0.1]/hook", STRICT, "webhook_url_private"),
        ("https://192.168.1.20/hook", STRICT, "webhook_url_private"),
        ("https://192.168.1.20/hook", ON_PREM, None),
        ("https://169.254.169.254/", ON_PREM, "webhook_url_private"),
        ("http://192.168.1.20/hook", ON_PREM, "webhook_url_not_https"),
        ("http://hooks.example.org/", DEV, "webhook_url_not_https"),
        ("https://hooks.example.org/#frag", STRICT, "webhook_url_invalid"),
        ("https://hooks.example.org:0/", STRICT, "webhook_url_invalid"),
    ],
)
def test_webhook_urls_are_https_to_public_addresses(
    url: str, policy: WebhookPolicy, code: str | None
) -> None:
    """https to a public host; loopback http only with the dev setting; private addresses
    only where the operator allows, link-local (cloud metadata) never."""
    if code is None:
        assert alert_settings.check_webhook_url(url, policy) == url
    else:
        with pytest.raises(SettingRejected) as refused:
            alert_settings.check_webhook_url(url, policy)
        assert refused.value.code == code


def test_resolved_addresses_are_judged_like_literals() -> None:
    """At delivery the resolved address decides: public yes, the rest by policy."""
    public = ipaddress.ip_address("203.0.113.9")
    assert not alert_settings.address_allowed(public, STRICT)  # documentation range
    assert alert_settings.address_allowed(ipaddress.ip_address("8.8.8.8"), STRICT)
    assert not alert_settings.address_allowed(ipaddress.ip_address("10.1.2.3"), STRICT)
    assert alert_settings.address_allowed(ipaddress.ip_address("10.1.2.3"), ON_PREM)
    assert alert_settings.address_allowed(ipaddress.ip_address("::1"), DEV)
    assert not alert_settings.address_allowed(ipaddress.ip_address("fe80::1"), ON_PREM)


def test_recipients_are_plain_addresses_without_duplicates() -> None:
    """Trimmed, domain lowercased, duplicates dropped, blank lines ignored; anything that
    could add a header or a recipient is refused."""
    assert alert_settings.parse_recipients([" Inchou@Clinic.TEST ", "", "Inchou@clinic.test"]) == (
        "Inchou@clinic.test",
    )
    for bad in ["inchou", "a@b@c", "院長 <a@b.c>", "a@b.c;d@e.f", "a@-", "a@b..c"]:
        with pytest.raises(SettingRejected):
            alert_settings.parse_recipients([bad])


def test_facts_are_bounded_plain_values() -> None:
    """Control characters become spaces, long text is cut, times become ISO UTC; a naive
    time, an odd name or an odd type is a programming error."""
    cleaned = clean_facts({"host": "PC\r\nBcc: x", "note": "x" * 500, "at": AT, "n": 3})
    assert cleaned == {"host": "PC  Bcc: x", "note": "x" * 200, "at": AT.isoformat(), "n": 3}
    for bad in ({"Bad": 1}, {"at": datetime(2026, 1, 1)}, {"x": 1.5}, {"x": [1]}):
        with pytest.raises(ValueError, match="alert"):
            clean_facts(bad)


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_kind_reads_in_plain_words(kind: Kind, lang: str) -> None:
    """Every kind has a title, a message and a next step in both languages that use the
    facts it is given (no "—" left when all facts are there), times in the clinic's zone."""
    text = alert_text.render(kind.value, clean_facts(FULL_FACTS), ZONE, lang)
    for part in (text.title, text.message, text.action):
        assert part
        assert "—" not in part
        assert "{" not in part
    assert kind in SEVERITY
    if lang == "ja" and kind == Kind.OUTSIDE_HOURS:
        assert "2026年11月21日 22:05" in text.message
    if lang == "en" and kind == Kind.AGENT_OFFLINE:
        assert "2026-11-21 22:05 (Asia/Tokyo)" in text.message


def test_missing_facts_and_unknown_kinds_still_read() -> None:
    """An alert is always told: missing facts show as "—", an unknown kind generically."""
    text = alert_text.render("lockout", {}, ZONE, "ja")
    assert text.title == "— さんのアカウントをロックしました"
    named = {"user": "山田 太郎", "username": "yamada"}
    assert alert_text.render("lockout", named, ZONE, "ja").title.startswith(
        "山田 太郎（yamada） さん"
    )
    assert alert_text.render("lockout", named, ZONE, "en").title.startswith("山田 太郎 (yamada)'s")
    assert alert_text.render("from_the_future", {}, ZONE, "en").title == "Notice"


def test_the_mail_is_utf8_with_the_severity_first_and_no_header_injection() -> None:
    """Subject 【至急】…（clinic）; a host name with CR/LF cannot add a header."""
    facts = clean_facts({**FULL_FACTS, "host": "PC\r\nBcc: evil@example.com"})
    subject = alert_text.mail_subject("policy_violation", "critical", facts, ZONE, "さくら診療所")
    assert subject.startswith("【至急】")
    assert subject.endswith("（さくら診療所）")
    body = alert_text.mail_body("policy_violation", facts, ZONE, "さくら診療所", AT, "https://x")
    message = build_mail("mamori@clinic.test", ["a@clinic.test"], subject, body, 7, AT)
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == subject
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert "画面と操作以外の通信路を開くこと" in parsed.get_content()  # type: ignore[attr-defined]


def settings_env(certs: ServerFiles, **values: str) -> dict[str, str]:
    return {
        "MAMORI_SECRET_KEY": random_secret_key(),
        "MAMORI_TLS_CERT": str(certs.server_cert),
        "MAMORI_TLS_KEY": str(certs.server_key),
        **values,
    }


def test_mail_settings_fail_closed(server_certs: ServerFiles) -> None:
    """No mail server: alerts stay in the console. A server needs a From address, and a
    login over the network needs STARTTLS (the password would travel in clear)."""
    plain = Settings.from_env(settings_env(server_certs))
    assert (plain.smtp_host, plain.smtp_port, plain.smtp_starttls) == ("", 587, True)
    assert plain.alert_retry_base_s == 30.0
    with pytest.raises(ConfigError, match="MAMORI_SMTP_FROM"):
        Settings.from_env(settings_env(server_certs, MAMORI_SMTP_HOST="mail.example.org"))
    with pytest.raises(ConfigError, match="STARTTLS"):
        Settings.from_env(
            settings_env(
                server_certs,
                MAMORI_SMTP_HOST="mail.example.org",
                MAMORI_SMTP_FROM="mamori@example.org",
                MAMORI_SMTP_USER="mamori",
                MAMORI_SMTP_STARTTLS="off",
            )
        )
    with pytest.raises(ConfigError, match="MAMORI_ALERT_RETRY_BASE_S"):
        Settings.from_env(settings_env(server_certs, MAMORI_ALERT_RETRY_BASE_S="soon"))
    fine = Settings.from_env(
        settings_env(
            server_certs,
            MAMORI_SMTP_HOST="mail.example.org",
            MAMORI_SMTP_FROM="mamori@example.org",
            MAMORI_SMTP_USER="mamori",
            MAMORI_ALERT_RETRY_BASE_S="0.5",
        )
    )
    assert (fine.smtp_user, fine.alert_retry_base_s) == ("mamori", 0.5)

"""Each clinic's alert settings: who gets mail, where the webhook goes, and the knobs of
the rules (usual hours, how long an agent may be offline).

A clinic that never opened the settings still gets alerts in the console, with the
defaults below. The webhook secret is made by the broker (256 bits), shown once, and kept
sealed (AES-256-GCM, bound to the organization), like TOTP secrets.

Webhook URLs are https only. A broker hosted for many clinics must not be turned into a
tool for reaching its own network (SSRF): addresses that are not public are refused, when
saved (literals here, names by the API resolving them) and again at delivery, which dials
the very address it checked (``destinations.py``), unless the operator allows private
addresses (an on-premises broker posting into the clinic's LAN). ``http://`` to a loopback
address is for development and tests only (a setting).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from broker.alerts.destinations import WebhookPolicy, address_allowed
from broker.db.models import AlertSettings
from broker.errors import SettingRejected
from broker.secretbox import SecretBox

DEFAULT_USUAL_HOURS: Final = (7 * 60, 21 * 60)  # 07:00-21:00, the example in issue 7
DEFAULT_AGENT_OFFLINE_MINUTES: Final = 60
MAX_RECIPIENTS: Final = 10
MAX_URL_CHARS: Final = 500
SECRET_BYTES: Final = 32
SECRET_PURPOSE: Final = "alert webhook v1"  # noqa: S105  (a key-derivation label)

# One plain address: no display names, comments or separators, so nothing can add a header
# or a recipient. RFC 5321 limits a path to 254 characters.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251})$"
)
_LOOPBACK_NAMES: Final = frozenset({"localhost"})


@dataclass(frozen=True)
class AlertConfig:
    """An organization's effective alert settings (defaults where it saved none)."""

    mail_recipients: tuple[str, ...] = ()
    webhook_url: str | None = None
    has_webhook_secret: bool = False
    usual_hours: tuple[int, int] | None = DEFAULT_USUAL_HOURS
    agent_offline_minutes: int | None = DEFAULT_AGENT_OFFLINE_MINUTES
    updated_at: datetime | None = None


async def stored(session: AsyncSession, org_id: int) -> AlertSettings | None:
    return await session.get(AlertSettings, org_id)


def effective(row: AlertSettings | None) -> AlertConfig:
    if row is None:
        return AlertConfig()
    hours = None
    if row.usual_start_minute is not None and row.usual_end_minute is not None:
        hours = (row.usual_start_minute, row.usual_end_minute)
    return AlertConfig(
        mail_recipients=tuple(a for a in row.mail_recipients.split("\n") if a),
        webhook_url=row.webhook_url,
        has_webhook_secret=row.webhook_secret_sealed is not None,
        usual_hours=hours,
        agent_offline_minutes=row.agent_offline_minutes,
        updated_at=row.updated_at,
    )


async def load(session: AsyncSession, org_id: int) -> AlertConfig:
    return effective(await stored(session, org_id))


async def channels(session: AsyncSession, org_id: int) -> list[tuple[str, str]]:
    """(channel, target) for each way the organization is told: mail to its recipients
    (one message to all), its webhook."""
    config = await load(session, org_id)
    found = []
    if config.mail_recipients:
        found.append(("mail", "\n".join(config.mail_recipients)))
    if config.webhook_url:
        found.append(("webhook", config.webhook_url))
    return found


def parse_recipients(addresses: list[str]) -> tuple[str, ...]:
    """Addresses as stored: trimmed, lowercase domain, no duplicates, at most ten.

    Raises:
        SettingRejected: ``recipients_invalid`` for an address that is not one plain address.
    """
    seen: dict[str, None] = {}
    for raw in addresses:
        address = raw.strip()
        if not address:
            continue
        local, _, domain = address.rpartition("@")
        address = f"{local}@{domain.lower()}"
        if len(address) > 254 or not _ADDRESS.match(address) or ".." in domain:
            raise SettingRejected("recipients_invalid", "each recipient must be one address")
        seen[address] = None
    if len(seen) > MAX_RECIPIENTS:
        raise SettingRejected("recipients_invalid", f"at most {MAX_RECIPIENTS} recipients")
    return tuple(seen)


def check_webhook_url(url: str, policy: WebhookPolicy) -> str:
    """The URL as stored, if the broker may post to it.

    Raises:
        SettingRejected: ``webhook_url_invalid`` (not a URL with a host, credentials in it,
            too long), ``webhook_url_not_https``, ``webhook_url_private`` (an address that is
            not public).
    """
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise SettingRejected("webhook_url_invalid", f"at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SettingRejected("webhook_url_invalid", "not a URL") from exc
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise SettingRejected("webhook_url_invalid", "a URL with a host and no credentials")
    if any(ch.isspace() for ch in url):
        raise SettingRejected("webhook_url_invalid", "no spaces in a URL")
    literal = _ip_literal(host)
    loopback = (
        host.rstrip(".") in _LOOPBACK_NAMES
        or host.rstrip(".").endswith(".localhost")  # RFC 6761: always loopback
        or (literal is not None and literal.is_loopback)
    )
    if parts.scheme != "https" and not (
        parts.scheme == "http" and loopback and policy.loopback_http
    ):
        raise SettingRejected("webhook_url_not_https", "webhooks must use https://")
    if loopback and not policy.loopback_http:
        raise SettingRejected("webhook_url_private", "this address is not reachable from here")
    if literal is not None and not address_allowed(literal, policy):
        raise SettingRejected("webhook_url_private", "this address is not reachable from here")
    if port == 0:
        raise SettingRejected("webhook_url_invalid", "port 0 is not a port")
    return url


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def new_webhook_secret() -> str:
    """256 random bits, base64url: the HMAC key receivers use (as its UTF-8 bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _binding(org_id: int) -> str:
    return f"alert-webhook:{org_id}"


def seal_secret(box: SecretBox, org_id: int, secret: str) -> bytes:
    return box.seal(secret.encode(), _binding(org_id))


def open_secret(box: SecretBox, org_id: int, sealed: bytes) -> bytes:
    """The HMAC key (raises broker.errors.DecryptionError if the row was tampered with)."""
    return box.open(sealed, _binding(org_id))


def minutes_to_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def text_to_minutes(text: str) -> int:
    """``HH:MM`` (24 h) as minutes after midnight.

    Raises:
        SettingRejected: ``usual_hours_invalid``.
    """
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text.strip())
    if match is None:
        raise SettingRejected("usual_hours_invalid", "hours are HH:MM, 00:00 to 23:59")
    return int(match[1]) * 60 + int(match[2])


def within(hours: tuple[int, int], minute_of_day: int) -> bool:
    """Whether a local time falls in ``hours``; hours may cross midnight (22:00-06:00)."""
    start, end = hours
    if start <= end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end

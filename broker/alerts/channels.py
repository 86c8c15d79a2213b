"""The two ways an alert leaves the broker: a mail through the operator's SMTP server, and a
signed JSON POST to the clinic's webhook.

Both raise ``DeliveryFailed``; ``permanent`` says retrying cannot help (no mail server is
configured, the URL is refused by policy), so the outbox gives up at once instead of
trying for hours. The webhook body is signed with HMAC-SHA256 over timestamp and body
(``webhooks.py``); receivers dedupe on ``X-Mamori-Delivery``, because a broker that stops
between the receiver's answer and writing it down sends that delivery again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from broker.alerts import webhooks
from broker.alerts.destinations import (
    IPAddress,
    Resolver,
    WebhookPolicy,
    resolve_checked,
    system_resolver,
)
from broker.config import Settings
from broker.errors import DeliveryFailed

DELIVERY_HEADER: Final = "X-Mamori-Delivery"
USER_AGENT: Final = "Mamori-Alerts/0.1"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str
    password: str
    starttls: bool
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """None when the operator configured no mail server (alerts stay in the console)."""
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.alert_webhook_timeout_s,
        )


def build_mail(
    sender: str, recipients: list[str], subject: str, body: str, alert_id: int, at: Any
) -> EmailMessage:
    """One message to all of a clinic's recipients, UTF-8 (base64, safe for any relay)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid("mamori-alert", sender.rpartition("@")[2] or None)
    # RFC 3834: out-of-office robots must not answer an automatic message.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Mamori-Alert"] = str(alert_id)
    message.set_content(body, charset="utf-8", cte="base64")
    return message


def _send_mail_blocking(config: SmtpConfig, message: EmailMessage) -> None:
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
        smtp.ehlo()
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.user:
            smtp.login(config.user, config.password)
        smtp.send_message(message)


async def send_mail(config: SmtpConfig | None, message: EmailMessage) -> None:
    """Send through the operator's server, in a thread (smtplib blocks).

    Raises:
        DeliveryFailed: permanent when no server is configured or every recipient was
            refused; otherwise worth retrying.
    """
    if config is None:
        raise DeliveryFailed("no mail server is configured on this broker", permanent=True)
    try:
        await asyncio.to_thread(_send_mail_blocking, config, message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed("the mail server refused every recipient", permanent=True) from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"mail server answered {exc.smtp_code}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"mail server unreachable: {type(exc).__name__}") from exc


def pinned_request(url: str, address: IPAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL that dials ``address`` itself, with the ``Host`` header and the TLS name
    (SNI and certificate check) still those of the URL's host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc_host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    name = f"[{host}]" if ":" in host else host
    headers = {"Host": f"{name}:{parts.port}" if parts.port else name}
    extensions: dict[str, Any] = {}
    if parts.scheme == "https" and not _is_literal(host):
        extensions["sni_hostname"] = host
    return pinned, headers, extensions


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def post_webhook(
    http: httpx.AsyncClient,
    url: str,
    secret: bytes,
    payload: dict[str, Any],
    delivery_id: int,
    timestamp: int,
    policy: WebhookPolicy,
    resolver: Resolver = system_resolver,
) -> None:
    """POST the signed payload; any 2xx answer is delivery, nothing else (no redirects).

    The host is resolved once, here, every answer checked, and the checked address is
    dialled (``destinations.py``): the HTTP client never resolves the name itself, so a
    name cannot answer differently to the check and to the connection (DNS rebinding).

    Raises:
        DeliveryFailed: the receiver did not take it (or its address is not allowed).
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = await resolve_checked(parts.hostname or "", port, policy, resolver)
    pinned, headers, extensions = pinned_request(url, address)
    body, signed = webhooks.signed_request(secret, payload, timestamp)
    headers.update(signed)
    headers[DELIVERY_HEADER] = str(delivery_id)
    headers["User-Agent"] = USER_AGENT
    try:
        response = await http.post(pinned, content=body, headers=headers, extensions=extensions)
    except httpx.TimeoutException as exc:
        raise DeliveryFailed("the webhook did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")

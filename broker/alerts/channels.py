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
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from broker.alerts import webhooks
from broker.alerts.settings import WebhookPolicy, address_allowed
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


async def _check_destination(url: str, policy: WebhookPolicy) -> None:
    """Resolve the webhook's host now and refuse addresses the policy does not allow (a
    name that pointed somewhere public when saved may point inside later)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DeliveryFailed(f"cannot resolve {host[:100]}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address_allowed(address, policy):
            raise DeliveryFailed("the webhook address is not allowed", permanent=True)


async def post_webhook(
    http: httpx.AsyncClient,
    url: str,
    secret: bytes,
    payload: dict[str, Any],
    delivery_id: int,
    timestamp: int,
    policy: WebhookPolicy,
) -> None:
    """POST the signed payload; any 2xx answer is delivery, nothing else (no redirects).

    Raises:
        DeliveryFailed: the receiver did not take it (or its address is not allowed).
    """
    await _check_destination(url, policy)
    body, headers = webhooks.signed_request(secret, payload, timestamp)
    headers[DELIVERY_HEADER] = str(delivery_id)
    headers["User-Agent"] = USER_AGENT
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryFailed("the webhook did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")

"""Webhook SSRF (issue 12, item 4): internal addresses hidden in IPv6 forms are refused when
saved and when dialled, and a delivery dials exactly the address it checked, so a name
that answers differently the second time (DNS rebinding) cannot reach loopback."""

from __future__ import annotations

import ipaddress
import ssl
import time
from pathlib import Path

import httpx
import pytest

from broker.alerts import settings as alert_settings
from broker.alerts.channels import post_webhook
from broker.alerts.destinations import WebhookPolicy, address_allowed, resolve_checked
from broker.alerts.webhooks import signature_valid
from broker.errors import DeliveryFailed, SettingRejected
from certs.authority import create_ca, issue_server_cert
from tests.support.receivers import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.integration

STRICT = WebhookPolicy()
DEV = WebhookPolicy(loopback_http=True)
ON_PREM = WebhookPolicy(private=True)
SECRET = b"webhook-test-secret"

# Each leads to an internal IPv4 address that the IPv6 address's own class hides.
HIDDEN_INTERNAL = [
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # RFC 8215 local-use NAT64: where the IPv4 sits is unknown
    "::127.0.0.1",  # IPv4-compatible
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # SIIT IPv4-translated
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:7f00:1:0:0:f5ff:fffe",  # Teredo, server 127.0.0.1
    "2001:0:808:808:8000:63bf:f5ff:fffe",  # Teredo (refused whole: a tunnel anywhere)
]
NEVER = ["0.0.0.0", "0.1.2.3", "169.254.169.254", "224.0.0.1", "240.0.0.1", "ff02::1", "fe80::1"]


@pytest.mark.parametrize("text", HIDDEN_INTERNAL + NEVER)
def test_internal_addresses_are_refused_in_every_form(text: str) -> None:
    """Neither a hosted nor an on-premises broker posts to loopback, link-local, multicast,
    reserved or "this network" addresses, also when an IPv6 form carries them."""
    address = ipaddress.ip_address(text)
    assert not address_allowed(address, STRICT)
    assert not address_allowed(address, ON_PREM)


@pytest.mark.parametrize("text", ["64:ff9b::a00:1", "2002:c0a8:101::1", "::ffff:10.1.2.3"])
def test_embedded_lan_addresses_follow_the_lan_setting(text: str) -> None:
    """A LAN address inside an IPv6 form is a LAN address: only where the operator allows."""
    address = ipaddress.ip_address(text)
    assert not address_allowed(address, STRICT)
    assert address_allowed(address, ON_PREM)


@pytest.mark.parametrize(
    "text", ["8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111"]
)
def test_public_addresses_pass_in_every_form(text: str) -> None:
    """The mapping judges the embedded address, so public ones still pass."""
    assert address_allowed(ipaddress.ip_address(text), STRICT)


def test_loopback_needs_the_development_setting_even_on_premises() -> None:
    """The LAN setting does not open the broker's own loopback (its database and Redis)."""
    for text in ["127.0.0.1", "::1", "::ffff:127.0.0.1"]:
        assert not address_allowed(ipaddress.ip_address(text), ON_PREM)
        assert address_allowed(ipaddress.ip_address(text), DEV)


@pytest.mark.parametrize("text", HIDDEN_INTERNAL)
def test_hidden_internal_literals_are_refused_when_saved(text: str) -> None:
    """The IPv6 forms from the attack run no longer pass the settings form."""
    with pytest.raises(SettingRejected) as refused:
        alert_settings.check_webhook_url(f"https://[{text}]/hook", ON_PREM)
    assert refused.value.code == "webhook_url_private"


async def test_a_name_with_one_internal_answer_is_refused_whole() -> None:
    """Every answer is checked: a public address beside 127.0.0.1 does not carry it."""

    async def mixed(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "::ffff:127.0.0.1"]

    with pytest.raises(DeliveryFailed) as refused:
        await resolve_checked("mixed.mamori.test", 443, STRICT, mixed)
    assert refused.value.permanent


async def test_a_rebinding_name_never_reaches_loopback() -> None:
    """A name answering a public address to the check and 127.0.0.1 afterwards is resolved
    once and the public address is dialled: the receiver on 127.0.0.1 gets nothing."""
    calls: list[str] = []

    async def flipping(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["8.8.8.8"] if len(calls) == 1 else ["127.0.0.1"]

    async with webhook_receiver(WebhookReceiver(secret=SECRET)) as loopback:
        url = f"https://rebind.mamori.test:{loopback.port}/hook"
        # A short timeout: the public address is not listening for this test.
        async with httpx.AsyncClient(timeout=1.0, follow_redirects=False, trust_env=False) as http:
            with pytest.raises(DeliveryFailed) as failed:
                await post_webhook(http, url, SECRET, {"a": 1}, 1, 0, STRICT, flipping)
            # A second delivery is a new resolution: now refused, still nothing sent.
            with pytest.raises(DeliveryFailed) as refused:
                await post_webhook(http, url, SECRET, {"a": 1}, 2, 0, STRICT, flipping)
    assert not failed.value.permanent
    assert refused.value.permanent
    assert calls == ["rebind.mamori.test", "rebind.mamori.test"]
    assert loopback.requests == []


async def test_the_dialled_address_keeps_the_name_for_tls_and_host(tmp_path: Path) -> None:
    """Dialling the checked address still verifies the certificate for the URL's name,
    sends that name as SNI and in Host, and the body arrives signed."""
    ca = create_ca("webhook test CA")
    server = issue_server_cert(ca, ["hooks.mamori.test"])
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(server.cert_pem())
    key_file.write_bytes(server.key_pem())
    trust = ssl.create_default_context(cadata=ca.cert_pem().decode())
    calls: list[str] = []

    async def once_then_elsewhere(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["192.0.2.1"]

    sni: list[str | None] = []
    now = int(time.time())
    tls = (str(cert_file), str(key_file))
    async with webhook_receiver(WebhookReceiver(secret=SECRET), tls=tls, sni_names=sni) as hook:
        url = f"https://hooks.mamori.test:{hook.port}/hook?x=1"
        async with httpx.AsyncClient(verify=trust, timeout=5, trust_env=False) as http:
            await post_webhook(http, url, SECRET, {"a": 1}, 7, now, DEV, once_then_elsewhere)
    assert calls == ["hooks.mamori.test"]
    assert sni == ["hooks.mamori.test"]
    [request] = hook.requests
    assert request.headers["Host"] == f"hooks.mamori.test:{hook.port}"
    assert request.headers["X-Mamori-Delivery"] == "7"
    assert signature_valid(SECRET, request.body, request.headers, now)

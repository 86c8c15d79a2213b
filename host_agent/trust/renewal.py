"""The agent renews its own certificate before it runs out.

Once less than a third of the certificate's lifetime is left (``certs.client_certs``), the
agent makes a fresh key, sends a CSR to ``/agent/renew`` on the agent port, proving its
current certificate in the TLS handshake, and replaces key and certificate in one step. The
next connection uses the new one. A failed attempt is retried after a tenth of what is
left (at least a second, at most five minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.client_certs import make_csr, renewal_due
from host_agent.errors import AgentError
from host_agent.trust.credentials import AgentState
from host_agent.trust.enrollment import certificate_for, post_json

log = logging.getLogger(__name__)

MAX_RETRY_S = 300.0


def renewal_url(agent_url: str) -> str:
    """``https://host:port/agent/renew`` for the agent port ``wss://host:port``."""
    parts = urlsplit(agent_url)
    return f"https://{parts.netloc}/agent/renew"


def renew_once(state: AgentState, agent_url: str, ca_file: str | None = None) -> x509.Certificate:
    """Renew now (blocking); the new certificate, already saved."""
    enrollment = state.enrollment()
    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(key, enrollment.host_id).public_bytes(serialization.Encoding.PEM).decode()
    answer = post_json(renewal_url(agent_url), {"csr": csr}, state.ssl_context(ca_file))
    cert, ca = certificate_for(answer, key, enrollment.host_id)
    state.save(key, cert, ca)
    log.info("certificate renewed: valid until %s", cert.not_valid_after_utc.isoformat())
    return cert


async def keep_renewed(
    state: AgentState,
    agent_url: str,
    stop: asyncio.Event,
    ca_file: str | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> None:
    """Renew whenever due, until ``stop`` is set."""
    while not stop.is_set():
        cert = state.certificate()
        wait_s = (renewal_due(cert) - now()).total_seconds()
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await stop.wait()
            continue
        try:
            await asyncio.to_thread(renew_once, state, agent_url, ca_file)
        except AgentError as exc:
            left = (cert.not_valid_after_utc - now()).total_seconds()
            retry_s = min(MAX_RETRY_S, max(1.0, left / 10))
            log.error("certificate renewal failed (%s); trying again in %.0f s", exc, retry_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry_s):
                    await stop.wait()

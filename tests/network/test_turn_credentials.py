"""The broker's TURN credentials (broker/turn) against a real coturn: one the broker mints
for a session is accepted on UDP, TCP and TLS 443; once its expiry has passed (the session
is over: MAMORI_TURN_CREDENTIAL_TTL_S, 5 minutes by default) coturn refuses it, as it
refuses one minted with another secret."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.turn.credentials import mint
from devkit.internet import ADDRESSES, CLINIC, INTERNET, clinic_and_home
from devkit.netns import build
from devkit.turn import allocate, running_turn

pytestmark = [pytest.mark.network, pytest.mark.usefixtures("coturn")]


async def test_minted_credentials_are_accepted_until_their_expiry(tmp_path: Path) -> None:
    """Fresh: an allocation on every transport. Expired (the same minting, its time in the
    past) or minted under another secret: 401."""
    async with (
        build(clinic_and_home()) as topo,
        running_turn(topo, INTERNET, ADDRESSES.server, tmp_path) as turn,
    ):
        now = datetime.now(UTC)
        fresh = mint(turn.secret, "Zx3_session-id-0123", now, 300)
        for transport in ("udp", "tcp", "tls"):
            result = await allocate(
                topo, CLINIC, turn, fresh.username, fresh.password, transport=transport
            )
            assert result["ok"], (transport, result)
        ended = mint(turn.secret, "Zx3_session-id-0123", now - timedelta(seconds=305), 300)
        assert ended.expires_at < time.time()
        foreign = mint("another-secret-not-coturns", "Zx3_session-id-0123", now, 300)
        for name, cred in (("expired", ended), ("foreign", foreign)):
            result = await allocate(topo, CLINIC, turn, cred.username, cred.password)
            assert not result["ok"], name
            assert result["error_code"] == 401, (name, result)

"""TURN REST credentials and ICE server lists (broker/turn) with plain data."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

import mamori_protocol as protocol
from broker.config import Settings
from broker.errors import ConfigError
from broker.turn.credentials import mint, password_for
from broker.turn.servers import ice_servers, parse_urls
from certs.authority import ServerFiles
from mamori_protocol import Direction, MalformedMessage
from tests.broker.test_config import env as base_env

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
URLS = (
    "stun:turn.example.jp:3478",
    "turn:turn.example.jp:3478?transport=udp",
    "turn:turn.example.jp:3478?transport=tcp",
    "turns:turn.example.jp:443?transport=tcp",
)


def test_a_credential_is_expiry_colon_subject_with_coturns_hmac() -> None:
    """username "<expiry>:<subject>", password base64(HMAC-SHA1(secret, username))."""
    cred = mint("s3cret-shared-with-coturn", "abcDEF_123-xyz", NOW, 300)
    assert cred.expires_at == int(NOW.timestamp()) + 300
    assert cred.username == f"{cred.expires_at}:abcDEF_123-xyz"
    expected = hmac.new(b"s3cret-shared-with-coturn", cred.username.encode(), hashlib.sha1)
    assert cred.password == base64.b64encode(expected.digest()).decode()
    assert password_for("another-secret-xx", cred.username) != cred.password
    with pytest.raises(ValueError, match="':'"):
        mint("s3cret-shared-with-coturn", "a:b", NOW, 300)


def test_ice_servers_keep_the_configured_order_and_carry_one_credential() -> None:
    """STUN entries without a credential, then one entry with every TURN URL in order."""
    servers = ice_servers(URLS, "s3cret-shared-with-coturn", "sid", NOW, 300)
    assert servers[0] == protocol.IceServer((URLS[0],))
    assert servers[1].urls == URLS[1:]
    assert servers[1].username is not None
    assert servers[1].username.endswith(":sid")
    assert ice_servers(URLS[:1], "x" * 16, "sid", NOW, 300) == (protocol.IceServer((URLS[0],)),)
    assert ice_servers((), "x" * 16, "sid", NOW, 300) == ()


def test_the_session_start_carries_them_in_a_closed_schema() -> None:
    """They round-trip through session_start; other shapes are refused by the agent."""
    servers = ice_servers(URLS, "s3cret-shared-with-coturn", "sid", NOW, 300)
    start = protocol.SessionStart(
        "s" * 22, "pc-1", "医師", "doctor", "クリニック", True, False, True, 60, 3600, False,
        ice_servers=servers, ice_policy="relay", lan_candidates=False,
    )  # fmt: skip
    assert protocol.parse(protocol.encode(start), Direction.BROKER_TO_AGENT) == start
    good = protocol.encode(start)
    for bad_servers in (
        '[{"urls":["http://evil.example/"]}]',
        '[{"urls":["turn:a b"]}]',
        '[{"urls":[]}]',
        '[{"urls":["stun:a"],"extra":1}]',
        '[{"urls":["stun:a"],"username":"\\u0000"}]',
        "[" + ",".join(['{"urls":["stun:a"]}'] * 9) + "]",
        '"stun:a"',
    ):
        raw = good.replace(good[good.index("[{") : good.index('],"ice_policy"') + 1], bad_servers)
        with pytest.raises(MalformedMessage):
            protocol.parse(raw, Direction.BROKER_TO_AGENT)
    with pytest.raises(MalformedMessage):
        protocol.parse(good.replace('"relay"', '"RELAY"'), Direction.BROKER_TO_AGENT)


@pytest.mark.parametrize(
    "text", ["http://x", "turns:x:443?transport=udp", "turn:x y", " ".join(["stun:x"] * 9)]
)
def test_the_setting_refuses_urls_that_are_not_stun_or_turn(text: str) -> None:
    """MAMORI_TURN_SERVERS holds stun:, turn: and turns: (over TCP) URLs only."""
    with pytest.raises(ValueError, match=r"URL|TCP|at most"):
        parse_urls(text)


def test_a_turn_url_needs_a_real_secret_and_a_ttl_past_the_ticket(
    server_certs: ServerFiles,
) -> None:
    """Fail closed: no TURN without a random shared secret, no credential shorter-lived
    than the ticket it comes with."""
    env = base_env(server_certs, MAMORI_TURN_SERVERS=" ".join(URLS))
    with pytest.raises(ConfigError, match="MAMORI_TURN_SECRET"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="MAMORI_TURN_SECRET"):
        Settings.from_env({**env, "MAMORI_TURN_SECRET": "changeme"})
    settings = Settings.from_env({**env, "MAMORI_TURN_SECRET": "k" * 8 + "Q7x9-2mPz"})
    assert settings.ice_urls == URLS
    with pytest.raises(ConfigError, match="TTL"):
        Settings.from_env(
            {
                **env,
                "MAMORI_TURN_SECRET": "k" * 20,
                "MAMORI_TURN_CREDENTIAL_TTL_S": "60",
                "MAMORI_TICKET_TTL_S": "120",
            }
        )

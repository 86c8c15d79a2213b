"""The test TURN server's credentials and configuration: TURN REST credentials as coturn
checks them, and a config that relays only inside the documentation ranges."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from devkit.turn import rest_credential, turn_config

pytestmark = pytest.mark.unit


def test_rest_credential_format() -> None:
    """Username ``<expiry>:<id>``, password base64 of HMAC-SHA1(secret, username): the
    example computed independently with the standard library."""
    username, password = rest_credential("s3cret", "sess-9", valid_for=60, now=1_700_000_000)
    assert username == "1700000060:sess-9"
    expected = hmac.new(b"s3cret", b"1700000060:sess-9", hashlib.sha1).digest()
    assert password == base64.b64encode(expected).decode()


def test_expired_credential_has_a_past_expiry() -> None:
    """A negative validity gives an expiry before now."""
    username, _ = rest_credential("s", "x", valid_for=-5, now=1_000)
    assert username == "995:x"


def test_config_denies_everything_but_the_allowed_ranges(tmp_path: Path) -> None:
    """The config denies every peer, then allows exactly the listed ranges; TLS 1.0/1.1,
    the CLI and TCP relays are off; the secret and files are the ones given."""
    config = turn_config("203.0.113.1", "s3cret", tmp_path, ["203.0.113.0/24", "192.0.2.0/25"])
    lines = config.splitlines()
    assert "denied-peer-ip=0.0.0.0-255.255.255.255" in lines
    assert [x for x in lines if x.startswith("allowed-peer-ip=")] == [
        "allowed-peer-ip=203.0.113.0-203.0.113.255",
        "allowed-peer-ip=192.0.2.0-192.0.2.127",
    ]
    for line in (
        "use-auth-secret",
        "static-auth-secret=s3cret",
        "no-cli",
        "no-tlsv1",
        "no-tlsv1_1",
        "no-tcp-relay",
        "listening-ip=203.0.113.1",
        "tls-listening-port=443",
        f"log-file={tmp_path / 'turn.log'}",
    ):
        assert line in lines


@pytest.mark.parametrize("peers", [["10.0.0.0/8"], ["0.0.0.0/0"], ["127.0.0.0/8"]])
def test_config_refuses_ranges_outside_the_test_ranges(tmp_path: Path, peers: list[str]) -> None:
    """A test TURN server cannot be told to relay to private, public or loopback ranges."""
    with pytest.raises(ValueError, match="documentation ranges"):
        turn_config("203.0.113.1", "s", tmp_path, peers)


def test_config_refuses_a_listening_address_outside_the_test_ranges(tmp_path: Path) -> None:
    """The server itself listens inside the test ranges only."""
    with pytest.raises(ValueError, match="outside"):
        turn_config("10.1.1.1", "s", tmp_path, ["203.0.113.0/24"])

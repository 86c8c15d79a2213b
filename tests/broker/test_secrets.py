"""Secrets at rest and second-factor codes: AES-GCM sealing, TOTP steps, recovery codes."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from broker.errors import DecryptionError
from broker.identity import recovery_codes, totp
from broker.secretbox import SecretBox

pytestmark = pytest.mark.unit

MASTER = secrets.token_bytes(32)
NOW = datetime(2026, 11, 21, 3, 0, 10, tzinfo=UTC)


def test_sealed_secret_opens_only_with_its_key_and_row() -> None:
    """AES-GCM: the right key and binding open it; another key, row or a flipped bit fail."""
    box = SecretBox(MASTER, "totp v1")
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", "totp:1")
    assert b"JBSWY3DP" not in sealed
    assert box.open(sealed, "totp:1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(DecryptionError):
        box.open(sealed, "totp:2")
    with pytest.raises(DecryptionError):
        SecretBox(secrets.token_bytes(32), "totp v1").open(sealed, "totp:1")
    with pytest.raises(DecryptionError):
        SecretBox(MASTER, "csrf v1").open(sealed, "totp:1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionError):
        box.open(tampered, "totp:1")
    assert box.seal(b"x", "totp:1") != box.seal(b"x", "totp:1")  # fresh nonce each time


def test_totp_accepts_one_step_of_drift_either_way_and_no_more() -> None:
    """RFC 6238 with ±1 step: codes of the previous, current and next step match."""
    secret = totp.new_secret()
    now_step = totp.step_at(NOW)
    for offset in (-1, 0, 1):
        code = totp.code_at_step(secret, now_step + offset)
        assert totp.matching_step(secret, code, NOW, -1) == now_step + offset
    for offset in (-2, 2):
        code = totp.code_at_step(secret, now_step + offset)
        assert totp.matching_step(secret, code, NOW, -1) is None


def test_totp_agrees_with_an_authenticator_app() -> None:
    """Our codes are the ones pyotp (what apps implement) shows for the same secret."""
    secret = totp.new_secret()
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(NOW), NOW, -1) == totp.step_at(NOW)


def test_totp_never_accepts_a_step_at_or_before_the_last_one() -> None:
    """A used code, or an older one, does not match again (replay, RFC 6238 §5.2)."""
    secret = totp.new_secret()
    now_step = totp.step_at(NOW)
    code = totp.code_at_step(secret, now_step)
    assert totp.matching_step(secret, code, NOW, now_step) is None
    older = totp.code_at_step(secret, now_step - 1)
    assert totp.matching_step(secret, older, NOW, now_step) is None
    later = NOW + timedelta(seconds=30)
    assert totp.matching_step(secret, totp.code_at_step(secret, now_step + 1), later, now_step)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "１２３４５６", "12 345"])
def test_malformed_totp_codes_never_match(code: str) -> None:
    """Wrong length, letters or non-ASCII digits are refused before any comparison."""
    assert totp.matching_step(totp.new_secret(), code, NOW, -1) is None


def test_totp_qr_is_an_svg_data_url_of_the_otpauth_uri() -> None:
    """The enrollment QR is an SVG image (data: URL), the URI names issuer and account."""
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "tanaka", "Mamori")
    assert uri.startswith(f"otpauth://totp/Mamori:tanaka?secret={secret}")
    assert totp.qr_svg_data_url(uri).startswith("data:image/svg+xml;base64,")


def test_recovery_codes_are_ten_distinct_and_typeable() -> None:
    """Ten codes of 4×4 characters; lowercase, spaces and misread letters still match."""
    codes = recovery_codes.generate()
    assert len(set(codes)) == 10
    for code in codes:
        assert len(code) == 19
        assert code.count("-") == 3
        sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
        assert recovery_codes.digest(sloppy) == recovery_codes.digest(code)
    assert recovery_codes.digest("not a code") is None
    assert recovery_codes.digest(codes[0]) != recovery_codes.digest(codes[1])

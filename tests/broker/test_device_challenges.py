"""What a viewing device signs: the message format and a signature vector shared with the
browser's tests (tests/web_client/devices.test.mjs), so both sides agree byte for byte."""

from __future__ import annotations

import pytest

from broker.devices.challenges import b64url, challenge_message, from_b64url
from broker.devices.keys import key_fingerprint, load_device_key, verify_challenge
from broker.errors import DeviceKeyError

pytestmark = pytest.mark.unit

# The same vector as tests/web_client/devices.test.mjs.
JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "tbpaAnlWGoXYJZUteth_TfnC5U-R3Tkk823TAeH5TpU",
    "y": "hqoL1oXW0XJCUsTlVn8u7e9UavrTTWuusADbnwN0pBg",
}
FINGERPRINT = "d721a93f57b1000175d0d5fd59b6fec9ef8d00ebb193fe70f558e7620788ab1a"
CHALLENGE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
SIGNATURE = "vS0-2VALSyzmCeJ1TLKWBj2ivCdWLTvOOomDWNPBYR1-CcgvxeoI-n6NIFYNJKeytpS0N4f29woKmYRmYMtlbA"


def test_the_message_binds_context_host_and_challenge() -> None:
    """The signed bytes name the protocol version, the host and the challenge."""
    assert (
        challenge_message("clinic-pc-1", "abc") == b"mamori-viewer-challenge-v1\nclinic-pc-1\nabc"
    )


def test_the_shared_vector_verifies_for_its_host_only() -> None:
    """The vector's signature verifies over its host's message and not over another host's."""
    key = load_device_key(JWK)
    assert key_fingerprint(key) == FINGERPRINT
    signature = from_b64url(SIGNATURE)
    assert signature is not None
    verify_challenge(key, challenge_message("clinic-pc-1", CHALLENGE), signature)
    with pytest.raises(DeviceKeyError):
        verify_challenge(key, challenge_message("other-pc", CHALLENGE), signature)


def test_base64url_round_trips() -> None:
    """Challenges and signatures travel as unpadded base64url."""
    for size in (0, 1, 31, 32, 64):
        data = bytes(range(size))
        assert from_b64url(b64url(data)) == data
    assert from_b64url("A") is None

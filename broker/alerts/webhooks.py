"""Signed webhook bodies: receivers check ``X-Mamori-Signature`` before trusting an alert.

The signature is HMAC-SHA256 over the timestamp and the exact body bytes, so a captured
alert cannot be replayed later with a new timestamp or altered in transit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Final

SIGNATURE_HEADER: Final = "X-Mamori-Signature"
TIMESTAMP_HEADER: Final = "X-Mamori-Timestamp"
# A receiver refuses alerts older than this (replay window).
MAX_AGE_S: Final = 300


def signed_request(
    secret: bytes, payload: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one webhook delivery."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    signature = _sign(secret, timestamp, body)
    return body, {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"sha256={signature}",
    }


def signature_valid(secret: bytes, body: bytes, headers: dict[str, str], now: int) -> bool:
    """What a receiver runs: right key, untouched body, fresh timestamp."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > MAX_AGE_S:
        return False
    expected = f"sha256={_sign(secret, timestamp, body)}"
    return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, ""))


def _sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()

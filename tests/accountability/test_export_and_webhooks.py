"""Audit exports that open right in Excel, and webhook signatures receivers can check."""

from __future__ import annotations

import csv
import io
import json

import pytest

from broker.alerts.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_valid,
    signed_request,
)
from broker.audit.export import BOM, to_csv, to_json_lines

pytestmark = pytest.mark.unit

COLUMNS = [("at", "日時"), ("user", "利用者"), ("event", "操作"), ("outcome", "結果")]
ROWS = [
    {"at": "2026-11-21 12:00", "user": "山田 太郎", "event": "login", "outcome": "成功"},
    {"at": "2026-11-21 12:01", "user": '=HYPERLINK("x")', "event": "login", "outcome": None},
]


def test_csv_starts_with_a_bom_and_japanese_headers() -> None:
    """Excel sees UTF-8 (BOM) and the header row is Japanese."""
    text = to_csv(COLUMNS, ROWS)
    assert text.startswith(BOM)
    parsed = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert parsed[0] == ["日時", "利用者", "操作", "結果"]
    assert parsed[1] == ["2026-11-21 12:00", "山田 太郎", "login", "成功"]
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")


def test_csv_neutralises_formulas() -> None:
    """A user name crafted as a formula is exported as text, not a formula."""
    parsed = list(csv.reader(io.StringIO(to_csv(COLUMNS, ROWS).removeprefix(BOM))))
    assert parsed[2][1] == '\'=HYPERLINK("x")'
    assert parsed[2][3] == ""


def test_json_lines_round_trip() -> None:
    """Each row is one JSON object per line, Japanese kept as is."""
    lines = to_json_lines(ROWS[:1]).splitlines()
    assert json.loads(lines[0]) == ROWS[0]
    assert "山田" in lines[0]


def test_webhook_signature_verifies_and_detects_tampering_and_replay() -> None:
    """Right key and body verify; a changed body, another key or a stale time do not."""
    secret = b"k" * 32
    body, headers = signed_request(secret, {"alert": "lockout", "user": "山田"}, timestamp=1000)
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    assert signature_valid(secret, body, headers, now=1010)
    assert not signature_valid(secret, body.replace(b"lockout", b"ok"), headers, now=1010)
    assert not signature_valid(b"x" * 32, body, headers, now=1010)
    assert not signature_valid(secret, body, headers, now=1000 + 301)
    assert not signature_valid(secret, body, {**headers, TIMESTAMP_HEADER: "1200"}, now=1200)
    assert not signature_valid(secret, body, {SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, 1000)

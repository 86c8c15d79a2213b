"""Every audit event code the broker can write has a plain-words label: in the CSV export
(Japanese) and on the console's audit page in both languages. 27 of 56 codes once showed
raw (``device_approved``, ``cert_issued``, ...) in the page and the CSV (issue 12)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from broker.audit.labels import EVENT_LABELS, EVENT_LABELS_EN, OUTCOME_LABELS, OUTCOME_LABELS_EN
from broker.audit.record import Event, Outcome

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DUMP = """
import { auditEn, auditJa } from "./web_client/core/i18n_audit.js";
console.log(JSON.stringify({ ja: auditJa, en: auditEn }));
"""


def page_texts() -> dict[str, dict[str, str]]:
    node = shutil.which("node")
    assert node is not None, "node is needed for the web client's tests"
    done = subprocess.run(
        [node, "--input-type=module", "-e", DUMP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    texts: dict[str, dict[str, str]] = json.loads(done.stdout)
    return texts


def test_every_event_code_has_a_csv_label() -> None:
    """The CSV's 出来事 column never falls back to the raw code."""
    missing = [e.value for e in Event if not EVENT_LABELS.get(e.value, "").strip()]
    assert missing == []
    assert set(OUTCOME_LABELS) == {o.value for o in Outcome}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_event_code_has_a_page_label_in_each_language(lang: str) -> None:
    """The page's event column and filter show words for each code, in both languages,
    and the English ones are English (no Japanese left behind)."""
    texts = page_texts()[lang]
    missing = [e.value for e in Event if not texts.get(f"auditEvent.{e.value}", "").strip()]
    assert missing == []
    missing_outcomes = [o.value for o in Outcome if f"auditOutcome.{o.value}" not in texts]
    assert missing_outcomes == []
    if lang == "en":
        japanese = {k: v for k, v in texts.items() if any(ord(ch) > 0x3000 for ch in v)}
        assert japanese == {}


def test_the_csv_says_what_the_page_says_in_each_language() -> None:
    """The export's event and outcome words (labels.py) are the page's, word for word, in
    Japanese and in English: an English console exports an English file."""
    texts = page_texts()
    for lang, events, outcomes in (
        ("ja", EVENT_LABELS, OUTCOME_LABELS),
        ("en", EVENT_LABELS_EN, OUTCOME_LABELS_EN),
    ):
        for e in Event:
            assert events.get(e.value) == texts[lang][f"auditEvent.{e.value}"], (lang, e.value)
        for o in Outcome:
            assert outcomes.get(o.value) == texts[lang][f"auditOutcome.{o.value}"], (lang, o)

"""Agent versions are compared as PEP 440 versions with the broker's; anything that cannot
be read counts as outdated (nothing shows that PC is patched)."""

from __future__ import annotations

import pytest

from broker.agents.versions import is_outdated, parse

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("agent", "broker", "outdated"),
    [
        ("0.1.0", "0.1.0", False),  # the same
        ("0.2.0", "0.1.0", False),  # newer than the broker
        ("0.1", "0.1.0", False),  # the same release, written shorter
        ("0.9.0", "0.10.0", True),  # as text "0.9.0" > "0.10.0"; as versions it is older
        ("0.10.0", "0.9.0", False),
        ("1.0.0rc1", "1.0.0", True),  # a pre-release comes before its release
        ("1.0.0", "1.0.0rc1", False),
        ("1.0.0.post1", "1.0.0", False),
        ("0+unknown", "0.1.0", True),  # an agent run from an uninstalled tree
        ("not-a-version", "0.1.0", True),  # unparsable: outdated
        ("", "0.1.0", True),  # never said one
        (None, "0.1.0", True),  # never connected
        ("9.9.9", "garbage", True),  # a broker that cannot read its own version vouches for none
    ],
)
def test_outdated_compares_versions_not_text(
    agent: str | None, broker: str, outdated: bool
) -> None:
    assert is_outdated(agent, broker) is outdated


def test_parse_refuses_what_is_not_pep_440() -> None:
    assert parse("1.2.3") is not None
    assert parse("1.2.3; rm -rf /") is None
    assert parse(None) is None

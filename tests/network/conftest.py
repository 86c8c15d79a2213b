"""The network tier: real namespaces, veth pairs, nftables and the link emulator, built by
each test and torn down after it (devkit/netns.py).

Where the machine cannot build them (not root, no ``ip``/``nft``, no ``/dev/net/tun``) the
tests are skipped with a message saying what is missing, except in CI (``CI=true``), where
they fail: CI must run this tier. ``deploy/setup.sh`` installs what it needs.
"""

from __future__ import annotations

import os
import shutil

import pytest

from devkit.chromium import CHROMIUM
from devkit.netns import missing_requirements


def require(missing: list[str]) -> None:
    """Fail in CI, skip elsewhere (saying so), when something the tier needs is missing."""
    if not missing:
        return
    reason = "the network tier cannot run here: missing " + ", ".join(missing)
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason}; CI must run it")
    pytest.skip(f"{reason} (it did NOT run)")


@pytest.fixture(autouse=True)
def network_tier() -> None:
    """Namespaces can be built here (root, ip, nft, /dev/net/tun)."""
    require(missing_requirements())


@pytest.fixture
def coturn() -> None:
    """Debian's coturn is installed (the TURN tests start its turnserver themselves)."""
    require([] if shutil.which("turnserver") else ["turnserver (Debian coturn)"])


@pytest.fixture
def debian_chromium() -> None:
    """Debian's chromium is installed (the e2e tier needs it too)."""
    require([] if os.path.exists(CHROMIUM) else [f"{CHROMIUM} (Debian chromium)"])

"""The agent's version: the installed ``mamori`` distribution's, from its metadata.

One place: the agent tells it to the broker in ``agent_hello`` (``pyproject.toml`` is the
only place the number is written). The agent imports nothing of the broker, so it reads the
metadata itself.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Final

# Running from a source tree that was never installed: a PEP 440 version that says so (and
# that agent_hello's version field accepts).
UNKNOWN: Final = "0+unknown"


def installed_version() -> str:
    """``mamori``'s version as installed, or ``UNKNOWN``."""
    try:
        return version("mamori")
    except PackageNotFoundError:
        return UNKNOWN


VERSION: Final = installed_version()

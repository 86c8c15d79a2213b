"""The broker's version: the installed ``mamori`` distribution's, from its metadata.

One place, so the API schema, the report and logs never disagree with the package
(``pyproject.toml`` is the only place the number is written).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Final

# Running from a source tree that was never installed: a PEP 440 version that says so.
UNKNOWN: Final = "0+unknown"


def installed_version() -> str:
    """``mamori``'s version as installed, or ``UNKNOWN``."""
    try:
        return version("mamori")
    except PackageNotFoundError:
        return UNKNOWN


VERSION: Final = installed_version()

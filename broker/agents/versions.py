"""Whether a host agent is older than the broker (MHLW.md row 18, keeping the gateway
patched).

Versions are PEP 440 (both sides read ``mamori``'s package metadata), compared as versions,
not as text: "0.10.0" is newer than "0.9.0". A version that cannot be parsed, or an agent
that never said one, counts as outdated: a clinic cannot be told a PC is patched when
nothing shows it is.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def parse(text: str | None) -> Version | None:
    """``text`` as a PEP 440 version, or None when it is missing or not one."""
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def is_outdated(agent: str | None, broker: str) -> bool:
    """True when the agent's version is older than the broker's, or unknown/unparsable.

    A broker whose own version cannot be parsed ("0+unknown" parses; garbage does not)
    flags every agent: the comparison cannot vouch for any of them.
    """
    theirs, ours = parse(agent), parse(broker)
    if theirs is None or ours is None:
        return True
    return theirs < ours

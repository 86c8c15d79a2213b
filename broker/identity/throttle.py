"""How fast sign-in attempts are taken, per source address and per account name, decided
before the password hash is computed.

The lockout (``lockout.py``) counts *failures* and needs each attempt's argon2 verify
(~0.1 s of a core) to know it failed; 150 concurrent bogus sign-ins took 19 s of hashing
and a real sign-in by someone else failed meanwhile (issue 12, item 5). A token bucket per
key caps attempts, not failures: a burst at once, then a steady rate; an attempt needs a
token from both its address's bucket and its name's bucket, so neither many names from one
address nor many addresses on one name get through fast. An address's allowance is larger
by default: a whole clinic signs in from behind one NAT address in the morning. An IPv6
source counts by its /64 (one host holds a whole /64 and could rotate through it).

Decisions are synchronous (no ``await`` between check and take), so concurrent requests on
one event loop cannot both take the last token. The buckets live in this process: with
several broker replicas each applies its own limit (an attacker spread over N replicas
gets N times the rate; the lockout, shared in the database, still holds).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Final

# Keys kept; beyond this the least recently used go (a refilled bucket is the same as none,
# and an attacker churning this many keys is still held by the per-account buckets).
MAX_KEYS: Final = 100_000


@dataclass(frozen=True)
class Rate:
    """``burst`` attempts at once, refilled at ``per_minute``."""

    burst: int
    per_minute: float


@dataclass
class _Bucket:
    tokens: float
    at: float  # seconds (the clock's timestamp) when ``tokens`` was computed


class SignInThrottle:
    """Token buckets keyed by address (``address``'s rate) and account name (``account``'s)."""

    def __init__(self, address: Rate, account: Rate, max_keys: int = MAX_KEYS) -> None:
        self._rates = {"address": address, "account": account}
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, source: str, name: str, now: datetime) -> float | None:
        """Take one token from the address's and the name's bucket and return None, or,
        when either is empty, take nothing and return the seconds until both have one."""
        at = now.timestamp()
        pairs = [
            (self._bucket(address_key(source), self._rates["address"], at), self._rates["address"]),
            (self._bucket(account_key(name), self._rates["account"], at), self._rates["account"]),
        ]
        waits = [(1.0 - b.tokens) * 60.0 / r.per_minute for b, r in pairs if b.tokens < 1.0]
        if waits:
            return max(waits)
        for bucket, _ in pairs:
            bucket.tokens -= 1.0
        return None

    def _bucket(self, key: str, rate: Rate, at: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(rate.burst), at)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, at - bucket.at)
            bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_minute / 60)
            bucket.at = at
        return bucket


def address_key(source: str) -> str:
    """The bucket key of a source address: IPv4 as is, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return f"address:{source[:64]}"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return f"address:{ipaddress.IPv6Network((address, 64), strict=False)}"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"address:{address.ipv4_mapped}"
    return f"address:{address}"


def account_key(name: str) -> str:
    return f"account:{name}"

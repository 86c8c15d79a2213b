"""Where sign-ins and remote sessions may come from: a clinic's optional allow-lists of
source networks (MHLW.md row 17, 接続元の制限).

Three lists, each optional: ``everyone`` (every account), ``admin`` and ``vendor`` (accounts
of that role, on top of ``everyone``). An empty list restricts nothing; a non-empty one
admits only addresses inside one of its networks, so an admin must be inside both the
``everyone`` and the ``admin`` list when both are set. They are checked when a password is
accepted (no session starts from elsewhere) and when each viewer ticket is asked for (a
session signed in inside cannot open a PC from outside). Fail closed: an address that
cannot be read ("unknown", a malformed forwarded value) is outside every list.

The address is the one every other decision uses (``api.deps.source_address``): the
socket's peer, or X-Forwarded-For only from ``MAMORI_TRUSTED_PROXIES``.

A change that would shut out the admin making it (the new lists exclude their current
address) is refused: the lists can only be set from an address they admit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import SourceNetwork
from broker.errors import SettingRefused

AUDIENCES: Final = ("everyone", "admin", "vendor")
# Per list: enough for a clinic, its branches and a vendor's offices; a longer list is a
# sign of pasting something else.
MAX_NETWORKS: Final = 32

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Lists = dict[str, list[str]]


def parse(entries: Sequence[str]) -> list[Network]:
    """Each entry as a network: ``192.0.2.0/24``, ``2001:db8::/48``, or a single address
    (a /32 or /128). Host bits must be zero (``192.0.2.1/24`` is refused: it usually means
    a typing mistake). Duplicates collapse.

    Raises:
        SettingRefused: ``source_network_invalid`` (naming the entry) or
            ``source_networks_too_many``.
    """
    found: list[Network] = []
    for raw in entries:
        text = raw.strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise SettingRefused(
                f"not a network (CIDR): {text[:64]!r}", code="source_network_invalid"
            ) from exc
        if network not in found:
            found.append(network)
    if len(found) > MAX_NETWORKS:
        raise SettingRefused(
            f"at most {MAX_NETWORKS} networks per list", code="source_networks_too_many"
        )
    return found


def address_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The source as an address (an IPv4-mapped IPv6 address as its IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def audiences_of(role: str) -> tuple[str, ...]:
    """The lists that apply to an account of ``role``."""
    return ("everyone", role) if role in AUDIENCES else ("everyone",)


def refusing_list(lists: Mapping[str, Sequence[str]], role: str, source: str) -> str | None:
    """The first list that applies to ``role`` and does not admit ``source``, or None when
    the source may come in."""
    address = address_of(source)
    for audience in audiences_of(role):
        networks = lists.get(audience) or []
        if not networks:
            continue
        # An address is never inside a network of the other family (False, not an error).
        if address is None or not any(address in ipaddress.ip_network(n) for n in networks):
            return audience
    return None


async def lists_of(session: AsyncSession, org_id: int) -> Lists:
    """The clinic's lists as stored (canonical CIDRs), every audience present."""
    rows = await session.scalars(
        select(SourceNetwork).where(SourceNetwork.org_id == org_id).order_by(SourceNetwork.id)
    )
    lists: Lists = {audience: [] for audience in AUDIENCES}
    for row in rows:
        lists[row.audience].append(row.network)
    return lists


async def refusal(session: AsyncSession, org_id: int, role: str, source: str) -> str | None:
    """The list of ``org_id`` that refuses an account of ``role`` coming from ``source``."""
    return refusing_list(await lists_of(session, org_id), role, source)


async def change(
    session: AsyncSession,
    org_id: int,
    changes: Mapping[str, Sequence[str]],
    by_user: int,
    by_source: str,
    now: datetime,
) -> list[str]:
    """Replace the lists named in ``changes``; returns ``audience: old->new`` for each list
    that changed (the caller audits them). The caller serializes changes of one clinic
    (``accounts.lock_org``) so two admins cannot each pass the lock-out check alone.

    Raises:
        SettingRefused: an unknown audience, an invalid or too long list, or lists that
            would not admit ``by_source``, the admin's own address (``source_networks_lockout``).
    """
    unknown = set(changes) - set(AUDIENCES)
    if unknown:
        raise SettingRefused(f"unknown lists: {sorted(unknown)}", code="setting_unknown")
    before = await lists_of(session, org_id)
    after = dict(before)
    for audience, entries in changes.items():
        after[audience] = [n.compressed for n in parse(entries)]
    if refusing_list(after, "admin", by_source) is not None:
        raise SettingRefused(
            f"these lists would shut out your own address {by_source}: add a network that "
            "holds it first",
            code="source_networks_lockout",
        )
    changed = [
        f"source_networks.{a}: [{', '.join(before[a])}]->[{', '.join(after[a])}]"
        for a in AUDIENCES
        if before[a] != after[a]
    ]
    for audience in changes:
        if before[audience] == after[audience]:
            continue
        await session.execute(
            delete(SourceNetwork).where(
                SourceNetwork.org_id == org_id, SourceNetwork.audience == audience
            )
        )
        for network in after[audience]:
            session.add(
                SourceNetwork(
                    org_id=org_id,
                    audience=audience,
                    network=network,
                    created_by=by_user,
                    created_at=now,
                )
            )
    await session.flush()
    return changed

"""What the other replicas hold, as they last said: their agents and their live sessions.

Each replica broadcasts its whole view (``view``) whenever its agents or sessions change
(debounced) and every ``EVERY_S`` anyway; a view not renewed within ``STALE_S`` is dropped
(its replica died), so a lost broadcast is healed by the next one. The host list and the
console's live sessions on any replica are its own plus these, so a viewer reaching
replica B sees a PC linked to replica A and an admin on B sees and ends A's sessions.
Presence keys (``presence``) stay the authority on where an agent is when routing a join.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

from broker.signaling.sessions import HostInfo, LiveSession

log = logging.getLogger(__name__)

EVERY_S: Final = 5.0
STALE_S: Final = 3 * EVERY_S


@dataclass
class ReplicaView:
    hosts: list[tuple[int, HostInfo]]
    sessions: list[tuple[int, LiveSession, float]]  # org, session, started (epoch s)
    seen_at: float = field(default_factory=time.monotonic)


def hosts_entry(org_id: int, host: HostInfo) -> list[Any]:
    return [org_id, host.host_id, host.name, host.busy]


def session_entry(org_id: int, live: LiveSession) -> list[Any]:
    return [
        org_id, live.session_id, live.host_id, live.host_name, live.user_id, live.username,
        live.display_name, time.time() - live.duration_s,
    ]  # fmt: skip


def _str(value: Any, limit: int = 200) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("not a short string")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError("not an int")
    return value


class Directory:
    """The other replicas' last views, by replica name."""

    def __init__(self) -> None:
        self._views: dict[str, ReplicaView] = {}

    def learn(self, replica: str, hosts: list[Any], sessions: list[Any]) -> None:
        """Replace ``replica``'s view; a malformed entry is dropped, not the whole view."""
        view = ReplicaView([], [])
        for entry in hosts:
            try:
                org, host_id, name, busy = entry
                view.hosts.append((_int(org), HostInfo(_str(host_id, 64), _str(name), bool(busy))))
            except (TypeError, ValueError):
                log.warning("view of %s: host entry dropped", replica)
        for entry in sessions:
            try:
                org, sid, host_id, host_name, user_id, username, display, started = entry
                live = LiveSession(
                    _str(sid, 64), _str(host_id, 64), _str(host_name), None
                    if user_id is None else _int(user_id), _str(username), _str(display), 0,
                )  # fmt: skip
                view.sessions.append((_int(org), live, float(started)))
            except (TypeError, ValueError):
                log.warning("view of %s: session entry dropped", replica)
        self._views[replica] = view

    def forget(self, replica: str) -> None:
        self._views.pop(replica, None)

    def _fresh(self) -> list[tuple[str, ReplicaView]]:
        now = time.monotonic()
        for name in [n for n, v in self._views.items() if now - v.seen_at > STALE_S]:
            del self._views[name]
        return list(self._views.items())

    def hosts(self, org_id: int) -> list[HostInfo]:
        return [h for _, v in self._fresh() for org, h in v.hosts if org == org_id]

    def sessions(self, org_id: int) -> list[LiveSession]:
        now = time.time()
        return [
            LiveSession(
                s.session_id,
                s.host_id,
                s.host_name,
                s.user_id,
                s.username,
                s.display_name,
                max(0, int(now - started)),
            )
            for _, v in self._fresh()
            for org, s, started in v.sessions
            if org == org_id
        ]

    def holder_of(self, org_id: int, session_id: str) -> str | None:
        for name, view in self._fresh():
            if any(org == org_id and s.session_id == session_id for org, s, _ in view.sessions):
                return name
        return None

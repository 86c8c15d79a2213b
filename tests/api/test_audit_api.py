"""The admin's audit search, exports and chain status against a real broker on SQLite and
PostgreSQL: filters and pages, a CSV Excel opens (BOM, Japanese headers), JSON lines with
hashes, every export audited, other roles refused, tampering shown."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from broker.access.zones import DEFAULT_TIME_ZONE
from broker.audit.chain import GENESIS, link_hash
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.search import csv_columns
from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_org, password_step, signed_in
from tests.support.audit import drop_append_only_triggers, tamper

pytestmark = pytest.mark.integration

DAY1 = datetime(2024, 5, 1, 0, 30, tzinfo=UTC)  # 09:30 in Japan; long before the test runs
DAY2 = DAY1 + timedelta(days=1)
HEADERS = [title for _, title in csv_columns(DEFAULT_TIME_ZONE)]


async def seed(broker: RunningBroker, clinic: Org) -> None:
    """Records of the clinic on two days, one with a formula-like actor name, one with a %
    in its detail; and one record of another clinic that must never show."""
    other = await make_org(broker, "よそ医院")
    async with broker.db.session() as s:
        for i, (at, name, event, outcome, detail) in enumerate(
            [
                (DAY1, "sato", Event.LOGIN_PASSWORD, Outcome.FAILURE, ""),
                (DAY1 + timedelta(hours=1), "sato", Event.LOCKOUT, Outcome.SUCCESS, "account"),
                (
                    DAY1 + timedelta(hours=2),
                    '=HYPERLINK("x")',
                    Event.LOGIN_PASSWORD,
                    Outcome.DENIED,
                    "locked",
                ),
                (
                    DAY2,
                    "suzuki",
                    Event.SESSION_ENDED,
                    Outcome.SUCCESS,
                    "host=uketsuke reason=idle_timeout duration_s=600",
                ),
                (
                    DAY2 + timedelta(hours=3),
                    "suzuki",
                    Event.CLIENT_BLOCKED,
                    Outcome.DENIED,
                    "paste_blocked 100% host=shinsatsu",
                ),
            ]
        ):
            actor = Actor(f"192.0.2.{i}", None, clinic.id, name)
            record(s, actor, event, outcome, at, detail=detail)
        record(
            s,
            Actor("198.51.100.1", None, other.id, "sato"),
            Event.LOCKOUT,
            Outcome.SUCCESS,
            DAY1,
            detail="よその記録",
        )
        await s.commit()


def url(path: str, **params: object) -> str:
    return f"/api/admin/audit/{path}?{urlencode(params)}" if params else f"/api/admin/audit/{path}"


async def test_search_filters_and_pages(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """Each filter narrows to what it says, pages continue without overlap, another clinic's
    records never show, and bad filters are refused with a code."""
    await seed(any_broker, clinic)
    async with signed_in(any_broker, admin) as a:

        async def actors(**params: object) -> list[str]:
            response = await a.http.get(url("search", **params))
            assert response.status_code == 200, response.text
            return [e["actor"] for e in response.json()["events"]]

        day2 = DAY2.isoformat()
        assert await actors(since=DAY1.isoformat(), until=day2, event="login_password") == [
            '=HYPERLINK("x")',
            "sato",
        ]
        assert await actors(since=day2, until=(DAY2 + timedelta(days=1)).isoformat()) == [
            "suzuki",
            "suzuki",
        ]
        assert await actors(outcome="denied") == ["suzuki", '=HYPERLINK("x")']
        assert await actors(actor="SAT") == ["sato", "sato"]
        assert await actors(q="100%") == ["suzuki"]
        assert await actors(q="0%h") == []  # % is a character here, not a wildcard
        assert await actors(q="idle_timeout") == ["suzuki"]
        everything = (await a.http.get(url("search", limit=500))).json()
        assert "よその記録" not in json.dumps(everything, ensure_ascii=False)
        total = everything["total"]
        seen: list[int] = []
        params: dict[str, object] = {"limit": 2}
        while True:
            page = (await a.http.get(url("search", **params))).json()
            assert page["total"] == total
            seen += [e["id"] for e in page["events"]]
            if page["next_before_id"] is None:
                break
            params["before_id"] = page["next_before_id"]
        assert seen == [e["id"] for e in everything["events"]]
        assert seen == sorted(seen, reverse=True)
        assert len(seen) == total

        bad = await a.http.get(url("search", since=day2, until=DAY1.isoformat()))
        assert (bad.status_code, bad.json()["error"]) == (400, "audit_range_invalid")
        for params in (
            {"surprise": "1"},
            {"outcome": "maybe"},
            {"since": "2024-05-01T00:00"},
            {"until": "9999-12-31T23:59:59-23:59"},
            {"since": "1900-01-01T00:00:00Z"},
            {"limit": 501},
            {"event": "DROP TABLE"},
        ):
            refused = await a.http.get(url("search", **params))
            assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request"), (
                params
            )
        kinds = (await a.http.get(url("kinds"))).json()
        assert "audit_exported" in kinds["events"]
        assert kinds["outcomes"] == ["success", "failure", "denied"]


async def test_csv_export_opens_in_excel_and_is_audited(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """The CSV starts with a UTF-8 BOM, has the Japanese headers, holds exactly the filtered
    records with the time in Japan, neutralises a formula, and its export is audited with
    the filters before the file is sent."""
    await seed(any_broker, clinic)
    async with signed_in(any_broker, admin) as a:
        response = await a.http.get(
            url("export", format="csv", since=DAY1.isoformat(), until=DAY2.isoformat())
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith('attachment; filename="mamori')
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
        assert rows[0] == HEADERS
        assert rows[0][:4] == ["連番", "日時（日本時間）", "利用者", "出来事"]
        body = [dict(zip(HEADERS, r, strict=True)) for r in rows[1:]]
        assert [r["利用者"] for r in body] == ["sato", "sato", '\'=HYPERLINK("x")']
        assert body[0]["日時（日本時間）"] == "2024-05-01 09:30:00"
        assert body[0]["出来事"] == "サインイン（パスワード）"
        assert body[0]["結果"] == "失敗"
        assert body[1]["詳細"] == "account"
        assert all(len(r["ハッシュ（SHA-256）"]) == 64 for r in body)

        exported = (await a.http.get(url("search", event="audit_exported"))).json()["events"]
        assert len(exported) == 1
        assert exported[0]["actor"] == admin.username
        assert exported[0]["detail"].startswith("format=csv filters=")
        assert f'"since": "{DAY1}"' in exported[0]["detail"]

        nothing = await a.http.get(url("export", format="csv", actor="nobody-at-all"))
        assert nothing.content.decode("utf-8-sig").splitlines() == [",".join(HEADERS)]


async def test_csv_export_in_english_when_the_console_is(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """lang=en (the console in English) gives English headers and English event and outcome
    words, every row; without it, or with lang=ja, the file is Japanese."""
    await seed(any_broker, clinic)
    span = {"since": DAY1.isoformat(), "until": DAY2.isoformat()}
    async with signed_in(any_broker, admin) as a:
        english = await a.http.get(url("export", format="csv", lang="en", **span))
        japanese = await a.http.get(url("export", format="csv", lang="ja", **span))
        plain = await a.http.get(url("export", format="csv", **span))
        refused = await a.http.get(url("export", format="csv", lang="fr"))
    assert english.status_code == 200, english.text
    rows = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == [title for _, title in csv_columns(DEFAULT_TIME_ZONE, "en")]
    assert rows[0][:5] == ["Sequence", "Time (Japan time)", "Person", "Event", "Outcome"]
    assert [(r[3], r[4]) for r in rows[1:]] == [
        ("Sign-in (password)", "Failure"),
        ("Lockout", "Success"),
        ("Sign-in (password)", "Denied"),
    ]
    assert not any(ord(ch) > 0x3000 for row in rows for ch in "".join(row[:6]))
    assert japanese.content == plain.content
    assert plain.content.decode("utf-8-sig").splitlines()[0] == ",".join(HEADERS)
    assert refused.status_code == 400


async def test_csv_export_shows_times_in_the_clinics_own_zone(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """A clinic in New York reads its export in New York time (09:30 in Japan is 20:30 the
    evening before there), and the column says which zone."""
    await seed(any_broker, clinic)
    async with signed_in(any_broker, admin) as a:
        moved = await a.http.put(
            "/api/admin/time-zone", json={"time_zone": "America/New_York"}, headers=a.headers
        )
        assert moved.status_code == 200, moved.text
        response = await a.http.get(
            url("export", format="csv", since=DAY1.isoformat(), until=DAY2.isoformat())
        )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0][:2] == ["連番", "日時（America/New_York）"]
    assert rows[1][1] == "2024-04-30 20:30:00"


async def test_json_lines_export_carries_the_chain(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """Unfiltered JSON lines hold the clinic's whole chain in order: every hash recomputes
    from the line itself and links to the line before."""
    await seed(any_broker, clinic)
    async with signed_in(any_broker, admin) as a:
        response = await a.http.get(url("export", format="jsonl"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["sequence"] for line in lines] == list(range(1, len(lines) + 1))
    assert {line["org_id"] for line in lines} == {clinic.id}
    previous = GENESIS
    for line in lines:
        fields = {k: v for k, v in line.items() if k not in {"id", "prev_hash", "hash"}}
        assert line["prev_hash"] == previous
        assert link_hash(previous, fields) == line["hash"]
        previous = line["hash"]


async def test_other_roles_are_refused_and_audited(
    any_broker: RunningBroker, clinic: Org, person: Person
) -> None:
    """A doctor gets 403 on search, export and chain status; each refusal is audited."""
    async with signed_in(any_broker, person) as d:
        for path in ("search", "export", "chain", "kinds"):
            response = await d.http.get(url(path))
            assert (response.status_code, response.json()["error"]) == (403, "forbidden"), path
    async with any_broker.db.session() as s:
        denied = list(
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.event == "access_denied", AuditEvent.actor == person.username
                )
            )
        )
    assert [d.detail for d in denied] == [
        f"GET /api/admin/audit/{p}" for p in ("search", "export", "chain", "kinds")
    ]
    assert {(d.outcome, d.org_id) for d in denied} == {("denied", clinic.id)}


async def test_chain_status_verifies_and_shows_tampering(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """The console's chain status: verified up to the newest record; after someone edits a
    record in the database, the record is named and the finding audited once."""
    await seed(any_broker, clinic)
    async with signed_in(any_broker, admin) as a:
        status = (await a.http.get(url("chain"))).json()
        assert status["ok"] is True
        async with any_broker.db.session() as s:
            newest = await s.scalar(
                select(AuditEvent)
                .where(AuditEvent.chain == clinic.id)
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            assert newest is not None
        assert status["verified_through_sequence"] == newest.sequence
        assert status["records"] == newest.sequence
        assert len(status["key_id"]) == 64
        victim = (await a.http.get(url("search", actor="suzuki"))).json()["events"][-1]
        await drop_append_only_triggers(any_broker.db)
        await tamper(
            any_broker.db,
            f"UPDATE audit_events SET detail = 'nothing happened' WHERE id = {victim['id']}",  # noqa: S608
        )
        for _ in range(2):
            status = (await a.http.get(url("chain"))).json()
            assert status["ok"] is False
            assert status["problem"] == {
                "sequence": victim["sequence"],
                "id": victim["id"],
                "kind": "edited",
            }
            assert status["verified_through_sequence"] == victim["sequence"] - 1
        broken = (await a.http.get(url("search", event="audit_chain_broken"))).json()
        assert broken["total"] == 1


async def test_failed_sign_ins_reach_the_clinic_trail(
    any_broker: RunningBroker, clinic: Org, admin: Person, person: Person
) -> None:
    """A real failed sign-in of a clinic's user shows in the clinic's search."""
    async with any_broker.http() as http:
        response = await password_step(http, person.username, "Wrong#password1")
        assert response.status_code == 401
    async with signed_in(any_broker, admin) as a:
        found = (await a.http.get(url("search", actor=person.username, outcome="failure"))).json()
    assert [(e["event"], e["actor"]) for e in found["events"]] == [
        ("login_password", person.username)
    ]

"""The compliance report's figures match the database of a seeded organization; the file
opens in Excel with Japanese headers; the review mark is stored and audited."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from broker.access import remote_policy as org_policy
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.models import Alert, AuditEvent, User
from broker.identity import accounts
from broker.identity.accounts import Role
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.devices import DeviceKey, register
from devkit.identity import Org, Person, make_org, make_person, signed_in
from tests.support.agent_hello import say_hello

pytestmark = pytest.mark.integration


@pytest.fixture
async def clinic(any_broker: RunningBroker) -> Org:
    return await make_org(any_broker, "さくら診療所")


async def seed(broker: RunningBroker, org: Org) -> Person:
    """People in every state the report counts, plus events inside and outside 30 days."""
    now = broker.clock.now()
    admin = await make_person(broker, org, "admin", "boss")
    active_doctor = await make_person(broker, org, "doctor", "dr-active")
    await make_person(broker, org, "doctor", "dr-dormant")
    vendor = await make_person(broker, org, "vendor", "vendor-gone")
    async with broker.db.session() as s:
        await accounts.create_user(s, org.id, "clerk-invited", "招待中", Role.STAFF, now)
        half = await accounts.create_user(s, org.id, "clerk-half", "途中", Role.STAFF, now)
        await accounts.set_password(s, half, "Hinode#Clinic7x", now)  # no second factor
        old = now - timedelta(days=100)
        await s.execute(
            update(User)
            .where(User.username.in_(["dr-active", "dr-dormant"]))
            .values(created_at=old)
        )
        await s.execute(update(User).where(User.id == vendor.user_id).values(disabled_at=now))
        actor = Actor("192.0.2.1", active_doctor.user_id, org.id, "dr-active")
        record(s, actor, Event.LOGIN_MFA, Outcome.SUCCESS, now - timedelta(days=10))
        for days in (1, 2, 45):
            record(s, actor, Event.LOCKOUT, Outcome.DENIED, now - timedelta(days=days))
        for days in (3, 4, 5):
            record(s, actor, Event.POLICY_VIOLATION, Outcome.DENIED, now - timedelta(days=days))
        await s.commit()
    # Another clinic's events must not count.
    other = await make_org(broker, "となり医院")
    stranger = await make_person(broker, other, "admin")
    async with broker.db.session() as s:
        them = Actor("192.0.2.9", stranger.user_id, other.id, stranger.username)
        record(s, them, Event.LOCKOUT, Outcome.DENIED, now)
        record(s, them, Event.POLICY_VIOLATION, Outcome.DENIED, now)
        await s.commit()
    return admin


async def test_report_figures_match_the_seeded_database(
    any_broker: RunningBroker, clinic: Org
) -> None:
    boss = await seed(any_broker, clinic)
    async with signed_in(any_broker, boss) as admin:
        response = await admin.http.get("/api/admin/report")
        assert response.status_code == 200, response.text
        shown = response.json()
    rows = {row["number"]: row for row in shown["rows"]}
    assert shown["organization"] == clinic.name
    # Enabled: boss, dr-active, dr-dormant, clerk-invited, clerk-half (vendor disabled).
    assert (rows[5]["value"], rows[5]["status"]) == ("3/5", "attention")
    assert "アカウント: 1" in rows[6]["evidence"]  # clerk-invited has no password yet
    assert (rows[3]["value"], rows[7]["evidence"].endswith("2 件")) == ("3", True)
    assert (rows[9]["value"], rows[9]["status"]) == ("1/1", "pass")
    assert "boss" in rows[9]["evidence"]
    assert (rows[10]["value"], rows[10]["status"]) == ("1", "attention")
    assert "dr-dormant" in rows[10]["evidence"]
    assert "dr-active" not in rows[10]["evidence"]
    assert "無効化済み 1 件" in rows[10]["evidence"]
    # No source lists: the clinic's choice, said so (not passed, not failed).
    assert (rows[17]["value"], rows[17]["status"]) == ("none", "clinic")
    assert "設定されていない" in rows[17]["evidence"]
    assert shown["last_review"] is None
    assert len(shown["clinic_duties"]) >= 5
    async with signed_in(any_broker, boss) as admin:
        english = (await admin.http.get("/api/admin/report?lang=en")).json()
    evidence = {row["number"]: row["evidence"] for row in english["rows"]}
    # One admin is "1 admin", never "1 admins" (issue 12).
    assert evidence[9].startswith("1 admin (boss)"), evidence[9]


async def test_row_17_shows_the_live_source_lists(any_broker: RunningBroker, clinic: Org) -> None:
    """Row 17 names each list in force, read when the report is built: a change shows at
    once, in both languages."""
    boss = await make_person(any_broker, clinic, "admin", "boss")
    async with signed_in(any_broker, boss) as admin:
        put = await admin.http.put(
            "/api/admin/settings/source-networks",
            json={"everyone": ["127.0.0.1", "2001:db8:1::/48"], "vendor": ["198.51.100.0/24"]},
            headers=admin.headers,
        )
        assert put.status_code == 200, put.text
        ja = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
        english = (await admin.http.get("/api/admin/report?lang=en")).json()["rows"]
        en = {r["number"]: r for r in english}
        cleared = await admin.http.put(
            "/api/admin/settings/source-networks",
            json={"everyone": [], "vendor": []},
            headers=admin.headers,
        )
        assert cleared.status_code == 200, cleared.text
        after = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
    assert (ja[17]["status"], ja[17]["value"]) == ("pass", "everyone 2, admin 0, vendor 1")
    assert "全員: 127.0.0.1/32、2001:db8:1::/48" in ja[17]["evidence"]
    assert "管理者: 制限なし" in ja[17]["evidence"]
    assert "保守業者: 198.51.100.0/24" in ja[17]["evidence"]
    assert "vendors: 198.51.100.0/24" in en[17]["evidence"]
    assert "admins: not restricted" in en[17]["evidence"]
    assert after[17]["status"] == "clinic"


async def test_a_long_idle_limit_needs_attention(any_broker: RunningBroker, clinic: Org) -> None:
    boss = await make_person(any_broker, clinic, "admin", "boss")
    async with any_broker.db.session() as s:
        defaults = any_broker.app.state.relay.policy
        await org_policy.change(
            s, clinic.id, defaults, {"idle_s": 1800}, boss.user_id, any_broker.clock.now()
        )
        await s.commit()
    async with signed_in(any_broker, boss) as admin:
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
    assert (rows[8]["value"], rows[8]["status"]) == ("30 min", "attention")


async def test_download_opens_as_excel_csv_and_is_audited(
    any_broker: RunningBroker, clinic: Org
) -> None:
    boss = await make_person(any_broker, clinic, "admin", "boss")
    async with signed_in(any_broker, boss) as admin:
        response = await admin.http.get("/api/admin/report/download")
        english = await admin.http.get("/api/admin/report/download", params={"lang": "en"})
        bad = await admin.http.get("/api/admin/report/download", params={"lang": "fr"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["項番", "要件", "根拠（実測）", "値", "判定", "確認日時"]
    assert {row[0] for row in table[1:] if row[0]} >= {"1", "5", "8", "19"}
    assert table[-1][1] == "最終確認"
    assert next(iter(csv.reader(io.StringIO(english.content.decode("utf-8-sig")))))[0] == "Row"
    assert bad.status_code == 400
    async with any_broker.db.session() as s:
        events = list(
            await s.scalars(select(AuditEvent.detail).where(AuditEvent.event == "report_exported"))
        )
    assert sorted(events) == ["lang=en", "lang=ja"]


async def test_download_dates_the_report_in_the_clinics_own_zone(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """A clinic in New York gets its report's check time in New York time, not Japan's."""
    boss = await make_person(any_broker, clinic, "admin", "boss")
    async with signed_in(any_broker, boss) as admin:
        moved = await admin.http.put(
            "/api/admin/time-zone", json={"time_zone": "America/New_York"}, headers=admin.headers
        )
        assert moved.status_code == 200, moved.text
        response = await admin.http.get("/api/admin/report/download")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[1][5].endswith((" EST", " EDT")), table[1]


async def test_review_mark_is_stored_shown_and_audited(
    any_broker: RunningBroker, clinic: Org
) -> None:
    boss = await make_person(any_broker, clinic, "admin", "boss")
    async with signed_in(any_broker, boss) as admin:
        marked = await admin.http.post(
            "/api/admin/report/review", json={"note": "院長確認済み"}, headers=admin.headers
        )
        assert marked.status_code == 200, marked.text
        review = marked.json()["last_review"]
        too_long = await admin.http.post(
            "/api/admin/report/review", json={"note": "x" * 501}, headers=admin.headers
        )
        assert too_long.status_code == 400
    assert (review["reviewed_by"], review["note"]) == (boss.username, "院長確認済み")
    async with any_broker.db.session() as s:
        audited = list(
            await s.scalars(select(AuditEvent).where(AuditEvent.event == "report_reviewed"))
        )
    assert [(e.actor, e.detail, e.org_id) for e in audited] == [
        (boss.username, "院長確認済み", clinic.id)
    ]


async def test_only_admins_get_the_report(any_broker: RunningBroker, clinic: Org) -> None:
    doctor = await make_person(any_broker, clinic, "doctor")
    async with signed_in(any_broker, doctor) as person:
        assert (await person.http.get("/api/admin/report")).status_code == 403
        assert (await person.http.get("/api/admin/report/download")).status_code == 403
        refused = await person.http.post(
            "/api/admin/report/review", json={"note": ""}, headers=person.headers
        )
        assert refused.status_code == 403


async def test_certificate_row_counts_pcs_with_a_live_certificate(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    boss = await make_person(any_broker, clinic, "admin", "boss")
    await enroll_agent(any_broker, clinic, "uketsuke-pc", tmp_path / "a", "受付")
    await enroll_agent(any_broker, clinic, "shinsatsu-pc", tmp_path / "b", "診察室")
    async with signed_in(any_broker, boss) as admin:
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
        assert (rows[14]["value"], rows[14]["status"]) == ("2/2", "pass")
        revoked = await admin.http.post(
            "/api/admin/hosts/shinsatsu-pc/revoke", json={}, headers=admin.headers
        )
        assert revoked.status_code == 200, revoked.text
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
    assert (rows[14]["value"], rows[14]["status"]) == ("1/2", "attention")


async def test_log_rows_show_the_verified_chain_the_review_and_retention(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """Row 11 needs an intact chain and a review within a quarter; row 2 counts the grants
    in force (a new clinic's two defaults); row 13 shows the retention setting."""
    boss = await make_person(any_broker, clinic, "admin", "boss")
    async with signed_in(any_broker, boss) as admin:
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
        assert (rows[2]["value"], rows[2]["status"]) == ("2", "pass")
        assert rows[11]["status"] == "attention"  # intact, but nobody reviewed it yet
        assert "改ざんなし" in rows[11]["evidence"]
        assert rows[13]["value"] == f"{any_broker.settings.audit_retention_days} d"
        await admin.http.post("/api/admin/report/review", json={"note": ""}, headers=admin.headers)
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
        assert rows[11]["status"] == "pass"
        any_broker.clock.advance(93 * 24 * 3600)  # a quarter later the review is stale
    async with signed_in(any_broker, boss) as admin:
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
    assert rows[11]["status"] == "attention"


async def test_device_row_counts_the_register_and_asks_about_waiting_devices(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """Row 4 counts devices by state; one waiting for approval needs attention. Registering
    it raised a device_pending alert for the console."""
    boss = await make_person(any_broker, clinic, "admin", "boss")
    doctor = await make_person(any_broker, clinic, "doctor")
    async with signed_in(any_broker, doctor) as person:
        registered = await register(person, DeviceKey())
        assert registered.status_code == 201, registered.text
    async with signed_in(any_broker, boss) as admin:
        rows = {r["number"]: r for r in (await admin.http.get("/api/admin/report")).json()["rows"]}
        waiting = (await admin.http.get("/api/admin/dashboard")).json()["waiting"]
    assert (rows[4]["value"], rows[4]["status"]) == ("0/1", "attention")
    assert rows[15]["status"] == "pass"
    assert waiting["devices"] == 1
    async with any_broker.db.session() as s:
        kinds = list(await s.scalars(select(Alert.kind).where(Alert.org_id == clinic.id)))
    assert "device_pending" in kinds


async def test_patch_row_states_the_broker_version_and_lists_older_agents(
    any_broker: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """Row 18 passes while every agent is at least the broker's version, and names each
    older agent (compared as versions: 0.9.0 is older than 0.10.0) or one never heard from
    as the clinic's to update."""
    any_broker.app.state.version = "0.10.0"
    boss = await make_person(any_broker, clinic, "admin", "boss")
    uketsuke = await enroll_agent(any_broker, clinic, "uketsuke-pc", tmp_path / "a", "受付")
    await say_hello(any_broker, uketsuke, "uketsuke-pc", "0.10.0", "受付")
    async with signed_in(any_broker, boss) as admin:
        shown = (await admin.http.get("/api/admin/report")).json()
        rows = {r["number"]: r for r in shown["rows"]}
        assert shown["version"] == "0.10.0"
        assert (rows[18]["value"], rows[18]["status"]) == ("0/1", "pass")
        assert "サーバーの版 0.10.0" in rows[18]["evidence"]
        shinsatsu = await enroll_agent(any_broker, clinic, "shinsatsu-pc", tmp_path / "b", "診察室")
        await say_hello(any_broker, shinsatsu, "shinsatsu-pc", "0.9.0", "診察室")
        await enroll_agent(any_broker, clinic, "kensa-pc", tmp_path / "c", "検査室")
        english = (await admin.http.get("/api/admin/report?lang=en")).json()
    row = {r["number"]: r for r in english["rows"]}[18]
    assert (row["value"], row["status"]) == ("2/3", "attention")
    assert "Server version 0.10.0" in row["evidence"]
    assert "(2): 検査室 (unknown), 診察室 (0.9.0)." in row["evidence"]  # by name
    assert "受付" not in row["evidence"]

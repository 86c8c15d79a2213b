// web_client/core/audit_query.js: the audit page's filters as a query, the chain status as words.
import assert from "node:assert/strict";
import test from "node:test";

import { auditParams, chainSummary, dayStart, exportHref, nextDay } from "../../web_client/core/audit_query.js";
import { hasKey, t } from "../../web_client/core/i18n.js";

test("a clinic day starts at midnight in the clinic's zone, daylight saving included", () => {
  assert.equal(dayStart("2026-11-21", "Asia/Tokyo"), "2026-11-21T00:00:00+09:00");
  assert.equal(dayStart("2026-11-21", "America/New_York"), "2026-11-21T00:00:00-05:00");
  assert.equal(dayStart("2026-07-01", "America/New_York"), "2026-07-01T00:00:00-04:00");
  // The days daylight saving starts and ends there: midnight is still on the old offset.
  assert.equal(dayStart("2026-03-08", "America/New_York"), "2026-03-08T00:00:00-05:00");
  assert.equal(dayStart("2026-11-01", "America/New_York"), "2026-11-01T00:00:00-04:00");
  assert.equal(dayStart("2026-11-21", "Asia/Kolkata"), "2026-11-21T00:00:00+05:30");
  for (const bad of ["2026-02-30", "2026-13-01", "21-11-2026", "", null, "2026-11-21T00:00"]) {
    assert.equal(dayStart(bad, "Asia/Tokyo"), null, String(bad));
  }
  assert.equal(nextDay("2026-12-31"), "2027-01-01");
  assert.equal(nextDay("2028-02-28"), "2028-02-29");
  assert.equal(nextDay("nope"), null);
});

test("the form becomes the broker's query; the end date includes its whole day", () => {
  const built = auditParams(
    {
      since: "2026-11-01",
      until: "2026-11-21",
      event: "login_password",
      outcome: "failure",
      actor: "  sato ",
      text: "100%",
    },
    "Asia/Tokyo",
  );
  assert.equal(built.ok, true);
  assert.deepEqual(Object.fromEntries(built.params), {
    since: "2026-11-01T00:00:00+09:00",
    until: "2026-11-22T00:00:00+09:00",
    event: "login_password",
    outcome: "failure",
    actor: "sato",
    q: "100%",
  });
  assert.equal(auditParams({}, "Asia/Tokyo").params.toString(), "");
  assert.equal(auditParams({ since: "2026-11-21", until: "2026-11-21" }, "Asia/Tokyo").ok, true);
  const newYork = auditParams({ since: "2026-11-01", until: "2026-11-21" }, "America/New_York");
  assert.deepEqual(Object.fromEntries(newYork.params), {
    since: "2026-11-01T00:00:00-04:00",
    until: "2026-11-22T00:00:00-05:00",
  });
});

test("a reversed range or a malformed date is refused with a message key", () => {
  const reversed = auditParams({ since: "2026-11-21", until: "2026-11-01" }, "Asia/Tokyo");
  assert.deepEqual(reversed, { ok: false, error: "audit.rangeInvalid" });
  assert.deepEqual(auditParams({ since: "2026-02-31" }, "Asia/Tokyo"), { ok: false, error: "audit.dateInvalid" });
  assert.ok(hasKey("audit.rangeInvalid") && hasKey("audit.dateInvalid"));
});

test("the chain status reads as a sentence in both languages", () => {
  const time = (iso) => `<${iso}>`;
  const ok = chainSummary(
    { ok: true, records: 12, verified_through_sequence: 12, verified_through_at: "T", checkpoints: 1, problem: null },
    time,
  );
  assert.equal(ok.state, "ok");
  assert.equal(
    t(ok.key, ok.params, "ja"),
    "書き換えはありません。記録 12 件目（<T>）まで確認しました（署名付きの確認点 1 件）。",
  );
  const empty = chainSummary({ ok: true, records: 0, verified_through_sequence: null, checkpoints: 0, problem: null }, time);
  assert.equal(empty.state, "empty");
  const broken = chainSummary(
    {
      ok: false,
      records: 8,
      verified_through_sequence: 8,
      verified_through_at: "T",
      checkpoints: 0,
      problem: { sequence: 9, id: 31, kind: "edited" },
    },
    time,
  );
  assert.equal(broken.state, "broken");
  assert.equal(
    t(broken.key, { ...broken.params, what: t(broken.whatKey, {}, "en") }, "en"),
    "Possible tampering: record 9 (record ID 31) was changed. Records up to 8 check out. " +
      "Contact your system vendor or maintenance company.",
  );
  for (const kind of ["edited", "missing_before", "out_of_order", "truncated", "bad_checkpoint", "checkpoint_mismatch", "solar_flare"]) {
    const summary = chainSummary({ ok: false, verified_through_sequence: 0, problem: { sequence: 1, id: null, kind } }, time);
    assert.ok(hasKey(summary.whatKey), kind);
  }
});

test("an export link carries the filters, the format and the console's language", () => {
  const params = new URLSearchParams({ event: "lockout" });
  const en = new URL(exportHref(params, "csv", "en"), "https://x");
  assert.equal(en.pathname, "/api/admin/audit/export");
  assert.equal(en.searchParams.get("event"), "lockout");
  assert.equal(en.searchParams.get("format"), "csv");
  assert.equal(en.searchParams.get("lang"), "en");
  assert.equal(new URL(exportHref(params, "jsonl", "ja"), "https://x").searchParams.get("lang"), "ja");
  // Anything else is the default, Japanese; the filters given are not changed.
  assert.equal(new URL(exportHref(params, "csv", "fr"), "https://x").searchParams.get("lang"), "ja");
  assert.equal(params.has("lang"), false);
});

// web_client/core/grants.js and the viewer's refusal rules: window labels, the window
// editor's checks, reconnect policy for grant refusals, and every new string in both languages.
import assert from "node:assert/strict";
import { test } from "node:test";

import { reconnectPolicy } from "../../web_client/core/backoff.js";
import { daysLabel, isTime, readAccess, windowLabel, windowProblem } from "../../web_client/core/grants.js";
import { DICTIONARIES, hasKey, t, translateError } from "../../web_client/core/i18n.js";
import { grantsEn, grantsJa } from "../../web_client/core/i18n_grants.js";
import { CONSOLE_PAGES, parseRoute } from "../../web_client/core/route.js";

const ja = (key, params) => t(key, params, "ja");
const en = (key, params) => t(key, params, "en");

test("days read as 平日, 毎日 or the days joined, Monday first", () => {
  assert.equal(daysLabel([0, 1, 2, 3, 4], ja), "平日");
  assert.equal(daysLabel([6, 5, 4, 3, 2, 1, 0], ja), "毎日");
  assert.equal(daysLabel([4, 0, 2], ja), "月・水・金");
  assert.equal(daysLabel([5, 6], en), "Sat・Sun");
});

test("a window reads with its hours; an end before the start is the next day", () => {
  assert.equal(windowLabel({ days: [0, 1, 2, 3, 4], start: "18:00", end: "23:00" }, ja), "平日 18:00〜23:00");
  assert.equal(windowLabel({ days: [2], start: "22:00", end: "02:00" }, ja), "水 22:00〜翌02:00");
  assert.equal(windowLabel({ days: [2], start: "22:00", end: "02:00" }, en), "Wed 22:00–next day 02:00");
});

test("the window editor says what is missing before the broker is asked", () => {
  assert.equal(windowProblem({ days: [], start: "18:00", end: "23:00" }), "grants.needDays");
  assert.equal(windowProblem({ days: [0], start: "", end: "23:00" }), "grants.needTimes");
  assert.equal(windowProblem({ days: [0], start: "24:00", end: "23:00" }), "grants.needTimes");
  assert.equal(windowProblem({ days: [0], start: "09:00", end: "09:00" }), "api.window_empty");
  assert.equal(windowProblem({ days: [0], start: "22:00", end: "02:00" }), null);
  assert.ok(isTime("00:00") && isTime("23:59") && !isTime("9:00") && !isTime("12:60"));
});

test("a host entry's access is kept only when well-formed; anything else is refused", () => {
  assert.deepEqual(readAccess({ mode: "view", refusal: "outside_window" }), {
    mode: "view",
    refusal: null,
    closesAt: null,
    request: null,
  });
  assert.equal(readAccess({ mode: "root" }).refusal, "no_grant");
  assert.equal(readAccess({}).refusal, "no_grant");
  assert.equal(readAccess({ mode: null, refusal: "outside_window" }).refusal, "outside_window");
});

test("grant refusals are shown and never retried on their own", () => {
  for (const token of ["no_grant", "outside_window", "vendor_not_approved"]) {
    assert.deepEqual(reconnectPolicy(token), { state: "error", retry: false, minMs: 0 }, token);
    for (const lang of ["ja", "en"]) {
      assert.notEqual(translateError(token, lang), t("error.unknown", { code: token }, lang), `${lang} ${token}`);
    }
  }
  assert.equal(translateError("outside_window", "ja"), "いまはこの端末に接続できる時間帯ではありません。");
});

test("the session's new ends and notices have words in both languages", () => {
  for (const key of ["bye.window_closed", "bye.access_revoked", "bye.view_only_input", "notice.window_closing", "notice.view_only", "viewer.viewOnly"]) {
    assert.ok(hasKey(key), key);
    assert.notEqual(ja(key), en(key), key);
  }
  assert.equal(ja("notice.window_closing", { minutes: 5 }), "許可された時間帯の終わりまで、あと5分です。作業を保存してください。");
});

test("the grants dictionary has the same keys in both languages, merged into the main one", () => {
  assert.deepEqual(Object.keys(grantsEn).sort(), Object.keys(grantsJa).sort());
  for (const key of Object.keys(grantsJa)) assert.equal(DICTIONARIES.ja[key], grantsJa[key], key);
});

test("the console has a grants page and a requests page", () => {
  assert.ok(CONSOLE_PAGES.includes("grants"));
  assert.ok(CONSOLE_PAGES.includes("requests"));
  assert.deepEqual(parseRoute("#/admin/requests"), { name: "admin", page: "requests" });
});

// web_client/core/opening_hours.js and the privacy screen's strings: the editor's HH:MM rows
// to the settings API's minutes and back, its checks, and every new string in both languages.
import assert from "node:assert/strict";
import { test } from "node:test";

import { t } from "../../web_client/core/i18n.js";
import { readHours, toEditor } from "../../web_client/core/opening_hours.js";

test("the editor's rows become API windows; an end of 00:00 is 24:00", () => {
  assert.deepEqual(
    readHours(
      [
        { days: [4, 0, 1, 2, 3], start: "09:00", end: "18:00" },
        { days: [5], start: "20:00", end: "00:00" },
      ],
      14,
    ),
    {
      hours: [
        { days: [0, 1, 2, 3, 4], start_minute: 540, end_minute: 1080 },
        { days: [5], start_minute: 1200, end_minute: 1440 },
      ],
    },
  );
  assert.deepEqual(readHours([], 14), { hours: [] });
  assert.deepEqual(readHours([{ days: [2], start: "00:00", end: "00:00" }], 14), {
    hours: [{ days: [2], start_minute: 0, end_minute: 1440 }],
  });
});

test("the editor says what is wrong before the broker is asked", () => {
  const row = { days: [0], start: "09:00", end: "18:00" };
  assert.equal(readHours([{ ...row, days: [] }], 14).problem, "grants.needDays");
  assert.equal(readHours([{ ...row, start: "" }], 14).problem, "grants.needTimes");
  assert.equal(readHours([{ ...row, end: "24:00" }], 14).problem, "grants.needTimes");
  assert.equal(readHours([{ ...row, end: "08:00" }], 14).problem, "settings.hoursOrder");
  assert.equal(readHours([{ ...row, end: "09:00" }], 14).problem, "settings.hoursOrder");
  assert.equal(readHours(Array(15).fill(row), 14).problem, "settings.hoursTooMany");
});

test("API windows read back into the editor; 24:00 shows as 00:00", () => {
  assert.deepEqual(toEditor({ days: [5], start_minute: 540, end_minute: 720 }), {
    days: [5],
    start: "09:00",
    end: "12:00",
  });
  assert.equal(toEditor({ days: [0], start_minute: 1200, end_minute: 1440 }).end, "00:00");
});

test("the privacy screen's and the hours' strings exist in Japanese and English", () => {
  const keys = [
    "settings.privacyScreen",
    "settings.privacyScreen.off",
    "settings.privacyScreen.outside_hours",
    "settings.privacyScreen.always",
    "settings.hoursHeading",
    "settings.hoursIntro",
    "settings.hoursZone",
    "settings.hoursOrder",
    "settings.hoursTooMany",
    "settings.hoursNone",
    "settings.addHours",
  ];
  for (const key of keys) {
    for (const lang of ["ja", "en"]) {
      const text = t(key, { zone: "Asia/Tokyo", max: 14 }, lang);
      assert.ok(text && text !== key, `${lang} ${key}`);
    }
  }
  assert.equal(t("settings.privacyScreen.outside_hours", {}, "ja"), "診療時間外のみ");
  assert.equal(t("settings.privacyScreen.off", {}, "ja"), "しない");
  assert.equal(t("settings.privacyScreen.always", {}, "ja"), "常に");
});

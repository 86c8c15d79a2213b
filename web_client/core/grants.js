/**
 * Grants and windows without the DOM: how a weekly window reads ("平日 18:00〜23:00"),
 * what is wrong with one typed into the editor, and the host list's access fields
 * (mirrors broker/api/grants.py and broker/api/hosts.py). Tested in node.
 */

export const DAYS = Object.freeze([0, 1, 2, 3, 4, 5, 6]); // 0 = Monday, as the broker counts
const TIME = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const MODES = new Set(["view", "control"]);
const REFUSALS = new Set(["outside_window", "vendor_not_approved"]);
const REQUEST_STATES = new Set(["pending", "approved", "denied", "used", "expired"]);

/** Whether `value` is an HH:MM time the broker accepts (00:00..23:59). */
export function isTime(value) {
  return typeof value === "string" && TIME.test(value);
}

/**
 * The days of a window as words: 平日, 毎日, or the days joined (月・水・金).
 * @param {number[]} days
 * @param {(key: string) => string} tr the translation function
 */
export function daysLabel(days, tr) {
  const set = new Set(days);
  if (set.size === 7) return tr("day.everyDay");
  if (set.size === 5 && [0, 1, 2, 3, 4].every((d) => set.has(d))) return tr("day.weekdays");
  return DAYS.filter((d) => set.has(d)).map((d) => tr(`day.${d}`)).join("・");
}

/**
 * One window as the console shows it; an end at or before the start is on the next day.
 * @param {{days: number[], start: string, end: string}} span
 * @param {(key: string, params?: object) => string} tr
 */
export function windowLabel(span, tr) {
  const overnight = span.end <= span.start;
  return tr("grants.window", {
    days: daysLabel(span.days, tr),
    start: span.start,
    end: `${overnight ? tr("grants.nextDay") : ""}${span.end}`,
  });
}

/**
 * What is wrong with a window typed into the editor, as an i18n key; null when the broker
 * would accept it (it checks again).
 * @param {{days: number[], start: string, end: string}} span
 */
export function windowProblem(span) {
  if (!Array.isArray(span.days) || span.days.length === 0) return "grants.needDays";
  if (!isTime(span.start) || !isTime(span.end)) return "grants.needTimes";
  if (span.start === span.end) return "api.window_empty";
  return null;
}

/**
 * The access fields of one host-list entry, kept only when well-formed (the page never
 * trusts the broker's JSON to be).
 * @returns {{mode: string | null, refusal: string | null, closesAt: Date | null,
 *   request: {id: number, state: string, expiresAt: Date} | null}}
 */
export function readAccess(item) {
  const mode = MODES.has(item?.mode) ? item.mode : null;
  const refusal = REFUSALS.has(item?.refusal) ? item.refusal : null;
  const closesAt = readTime(item?.closes_at);
  let request = null;
  const r = item?.request;
  if (r && Number.isInteger(r.id) && REQUEST_STATES.has(r.state) && readTime(r.expires_at)) {
    request = { id: r.id, state: r.state, expiresAt: readTime(r.expires_at) };
  }
  // Neither allowed nor a known refusal: treat as refused (fail closed in the UI too).
  return mode === null && refusal === null
    ? { mode: null, refusal: "no_grant", closesAt: null, request }
    : { mode, refusal: mode === null ? refusal : null, closesAt, request };
}

function readTime(value) {
  if (typeof value !== "string" || value.length > 40) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * The clinic's opening hours (診療時間) without the DOM: between the settings API's windows
 * (days 0 = Monday, minutes from local midnight, start < end, 1440 = 24:00; mirrors
 * broker/api/settings.py) and the editor's HH:MM fields. A time field cannot show 24:00, so
 * an end of 00:00 means the end of that day: an opening window never crosses midnight.
 * Tested in node.
 */

import { isTime } from "./grants.js";

export const MINUTES_PER_DAY = 24 * 60;

function hhmm(minute) {
  const m = minute % MINUTES_PER_DAY;
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

function minutes(value) {
  const [h, m] = value.split(":").map((part) => Number.parseInt(part, 10));
  return h * 60 + m;
}

/** An API window as the editor shows it ({days, start, end} in HH:MM; 24:00 as 00:00). */
export function toEditor(hours) {
  return { days: [...hours.days], start: hhmm(hours.start_minute), end: hhmm(hours.end_minute) };
}

/**
 * The editor's rows as API windows, or the first problem as an i18n key (the broker checks
 * again).
 * @param {{days: number[], start: string, end: string}[]} spans
 * @param {number} max the most windows the broker takes
 * @returns {{hours: object[]} | {problem: string}}
 */
export function readHours(spans, max) {
  if (spans.length > max) return { problem: "settings.hoursTooMany" };
  const hours = [];
  for (const span of spans) {
    if (!Array.isArray(span.days) || span.days.length === 0) return { problem: "grants.needDays" };
    if (!isTime(span.start) || !isTime(span.end)) return { problem: "grants.needTimes" };
    const start = minutes(span.start);
    const end = span.end === "00:00" ? MINUTES_PER_DAY : minutes(span.end);
    if (end <= start) return { problem: "settings.hoursOrder" };
    hours.push({ days: [...span.days].sort((a, b) => a - b), start_minute: start, end_minute: end });
  }
  return { hours };
}

/**
 * The audit page's pure parts: the search form's values as the broker's query string, and
 * the chain status as a sentence to show. No DOM; tested in Node.
 *
 * Dates are the clinic's calendar days in its zone (core/clinic_time.js): "from" is the
 * start of its day, "to" includes its whole day (the broker's `until` is exclusive).
 */

import { dayStartIn } from "./clinic_time.js";

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The instant a clinic day starts in `zone`, ISO with its offset; null for a malformed date. */
export function dayStart(day, zone) {
  const match = DAY.exec(String(day ?? ""));
  if (!match) return null;
  const [, y, m, d] = match.map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return null;
  return dayStartIn(y, m, d, zone);
}

/** The day after `day` (YYYY-MM-DD), or null. */
export function nextDay(day) {
  if (dayStart(day, "UTC") === null) return null;
  const [y, m, d] = day.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  return next.toISOString().slice(0, 10);
}

/**
 * The search form as query parameters.
 * @param {{since?: string, until?: string, event?: string, outcome?: string, actor?: string, text?: string}} form
 * @param {string | undefined} zone the clinic's zone its days are read in
 * @returns {{ok: true, params: URLSearchParams} | {ok: false, error: string}} error is an i18n key
 */
export function auditParams(form, zone) {
  const params = new URLSearchParams();
  const since = form.since ? dayStart(form.since, zone) : null;
  const until = form.until ? dayStart(nextDay(form.until), zone) : null;
  if ((form.since && since === null) || (form.until && until === null)) return { ok: false, error: "audit.dateInvalid" };
  if (form.since && form.until && form.since > form.until) return { ok: false, error: "audit.rangeInvalid" };
  if (since) params.set("since", since);
  if (until) params.set("until", until);
  for (const [field, name] of [["event", "event"], ["outcome", "outcome"], ["actor", "actor"], ["text", "q"]]) {
    const value = String(form[field] ?? "").trim();
    if (value) params.set(name, value);
  }
  return { ok: true, params };
}

/**
 * Where an export link points: the current filters, the format, and the console's language
 * (the CSV's headers and event words follow it; Japanese unless the page is in English).
 * @param {URLSearchParams} params the search's filters (auditParams)
 * @param {"csv" | "jsonl"} format
 * @param {string} lang the page's language
 */
export function exportHref(params, format, lang) {
  const query = new URLSearchParams(params);
  query.set("format", format);
  query.set("lang", lang === "en" ? "en" : "ja");
  return `/api/admin/audit/export?${query}`;
}

/**
 * What the chain status says, as an i18n key and its parameters.
 * @param {{ok: boolean, records: number, verified_through_sequence: number|null, verified_through_at: string|null,
 *   checkpoints: number, problem: {sequence: number, id: number|null, kind: string}|null}} status
 * @param {(iso: string) => string} formatTime
 */
export function chainSummary(status, formatTime) {
  if (status.ok && status.verified_through_sequence === null) return { state: "empty", key: "audit.chainEmpty", params: {} };
  if (status.ok) {
    return {
      state: "ok",
      key: "audit.chainOk",
      params: {
        sequence: status.verified_through_sequence,
        time: formatTime(status.verified_through_at),
        checkpoints: status.checkpoints,
      },
    };
  }
  const problem = status.problem ?? { sequence: 0, id: null, kind: "unknown" };
  const known = ["edited", "missing_before", "out_of_order", "truncated", "bad_checkpoint", "checkpoint_mismatch"];
  return {
    state: "broken",
    key: "audit.chainBroken",
    whatKey: `audit.problem.${known.includes(problem.kind) ? problem.kind : "unknown"}`,
    params: {
      sequence: problem.sequence,
      id: problem.id ?? "—",
      verified: status.verified_through_sequence ?? 0,
    },
  };
}

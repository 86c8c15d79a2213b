/**
 * Sign-in rules for the page, without the DOM: which screen a route shows for a session
 * state, how API errors map to messages, and the password policy mirrored for instant
 * feedback (the broker decides; see broker/identity/passwords.py).
 */

export const SESSION_STATES = Object.freeze(["anonymous", "mfa", "enroll", "active"]);
const ADMIN_ONLY = new Set(["admin"]);

/**
 * The screen to show for `route` (core/route.js) when the session is in `state`.
 * Nothing behind sign-in shows before MFA is complete (MHLW.md row 5).
 * @param {{name: string}} route
 * @param {{state: string, user?: {role?: string}} | null} session
 * @returns {string} login | mfa | enroll | hosts | viewer | account | admin
 */
export function screenFor(route, session) {
  const state = session && SESSION_STATES.includes(session.state) ? session.state : "anonymous";
  if (route.name === "enroll" && state !== "active") return "enroll";
  switch (state) {
    case "anonymous":
      return "login";
    case "mfa":
      return "mfa";
    case "enroll":
      return "enroll";
    case "active":
      if (route.name === "login" || route.name === "mfa" || route.name === "enroll") return "hosts";
      if (ADMIN_ONLY.has(route.name) && session.user?.role !== "admin") return "hosts";
      return route.name;
    default:
      throw new Error(`unhandled session state ${state}`);
  }
}

/**
 * The i18n key for an API error body ({"error": code, ...}) and status.
 * @returns {string}
 */
export function errorKey(status, body) {
  const code = body && typeof body === "object" && typeof body.error === "string" ? body.error : "";
  if (/^[a-z][a-z0-9_]{0,39}$/.test(code)) return `api.${code}`;
  if (status === 0) return "api.network";
  if (status >= 500) return "api.server";
  return "api.unknown";
}

/**
 * The message for a refused request, naming how long a lock or a rate limit lasts when the
 * broker said (`retry_after_s`): "api.locked_for" / "api.rate_limited" with {minutes}.
 * @param {number} status
 * @param {unknown} body
 * @returns {{key: string, params: {minutes?: number}}}
 */
export function describeError(status, body) {
  const key = errorKey(status, body);
  const wait = body && typeof body === "object" ? body.retry_after_s : undefined;
  if (typeof wait !== "number" || !Number.isFinite(wait) || wait <= 0) return { key, params: {} };
  const params = { minutes: Math.max(1, Math.ceil(wait / 60)) };
  return { key: key === "api.locked" ? "api.locked_for" : key, params };
}

const MIN_MIXED = 8;
const MIN_PLAIN = 13;

/**
 * Instant hints while a password is typed; null when the length/kind rules are met.
 * The common-password list and the history are checked by the broker only.
 * @param {string} password
 * @returns {string | null} an i18n key
 */
export function passwordHint(password) {
  const value = String(password ?? "").normalize("NFKC");
  const length = [...value].length;
  if (length > 128) return "password.tooLong";
  let letter = false;
  let digit = false;
  let symbol = false;
  for (const ch of value) {
    if (/\p{Nd}/u.test(ch)) digit = true;
    else if (/\p{L}/u.test(ch)) letter = true;
    else if (!/\s/u.test(ch)) symbol = true;
  }
  const mixed = letter && digit && symbol;
  if (length >= MIN_PLAIN || (mixed && length >= MIN_MIXED)) return null;
  return "password.rule";
}

/** Group recovery codes for display (they arrive as XXXX-XXXX-XXXX-XXXX). */
export function formatRecoveryCodes(codes) {
  return (Array.isArray(codes) ? codes : []).filter((c) => typeof c === "string" && /^[0-9A-Z-]{19}$/.test(c));
}

/** The enrollment token from a route, or null. */
export function enrollToken(route) {
  return route && route.name === "enroll" && typeof route.token === "string" ? route.token : null;
}

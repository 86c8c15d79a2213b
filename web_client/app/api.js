/**
 * JSON calls to the broker, same origin, with the CSRF token on every state-changing
 * request. The token comes from GET /api/session (and from every answer that changes the
 * session); the broker also sets it as the readable `__Host-mamori_csrf` cookie, which is the
 * fallback here.
 */

let csrfToken = null;
// Asked when a change needs the second factor again (403 step_up_required): resolves true
// once it was shown (app/step_up.js), and the request is sent once more.
let stepUpHandler = null;

/** Set (or with null, clear) what answers a 403 step_up_required. */
export function setStepUpHandler(handler) {
  stepUpHandler = typeof handler === "function" ? handler : null;
}

/** Remember the CSRF token the broker just gave (null forgets it). */
export function setCsrf(token) {
  csrfToken = typeof token === "string" && token.length >= 32 ? token : null;
}

function cookieCsrf() {
  const match = /(?:^|;\s*)__Host-mamori_csrf=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]) : null;
}

/**
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 * @param {{background?: boolean, noStepUp?: boolean}} [options] background: a poll that
 *   must not count as activity for the idle timeout; noStepUp: never ask for a step-up
 * @returns {Promise<{status: number, body: any}>} status 0 when the network failed
 */
export async function call(method, path, body = undefined, options = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    const token = csrfToken ?? cookieCsrf();
    if (token) headers["X-CSRF-Token"] = token;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options.background) headers["X-Mamori-Background"] = "1";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    return { status: 0, body: null };
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  if (parsed && typeof parsed === "object" && typeof parsed.csrf_token === "string") {
    setCsrf(parsed.csrf_token);
  }
  if (response.status === 403 && parsed?.error === "step_up_required" && stepUpHandler && !options.noStepUp) {
    if (await stepUpHandler()) return call(method, path, body, { ...options, noStepUp: true });
  }
  return { status: response.status, body: parsed };
}

/** The current session state (GET /api/session); anonymous when unreachable. */
export async function loadSession() {
  const { status, body } = await call("GET", "/api/session");
  if (status !== 200 || !body || typeof body.state !== "string") return { state: "anonymous" };
  return body;
}

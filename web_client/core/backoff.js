/**
 * Reconnect delays: capped exponential backoff with full jitter.
 *
 * Full jitter (a uniform draw between the floor and the exponential ceiling) spreads the
 * reconnects of many viewers after a broker restart instead of having them arrive in waves
 * ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015). Pure: the random source
 * is passed in so tests are deterministic.
 */

export const DEFAULT_BASE_MS = 1000;
export const DEFAULT_CAP_MS = 30_000;
// A floor keeps a failed state on screen long enough to be read, and keeps a tight loop
// (random() returning ~0 again and again) from hammering the broker.
export const DEFAULT_MIN_MS = 500;
// unknown_host and host_busy are not fixed by trying harder: at most one try every 5 s.
export const SLOW_RETRY_MIN_MS = 5000;

/**
 * Delay before reconnect attempt number `attempt` (0 for the first retry).
 *
 * @param {number} attempt 0, 1, 2, ...; negative or non-integer values count as 0.
 * @param {() => number} random uniform in [0, 1), like Math.random.
 * @param {{baseMs?: number, capMs?: number, minMs?: number}} [options]
 * @returns {number} whole milliseconds in [minMs, max(minMs, min(capMs, baseMs * 2^attempt))]
 */
export function backoffDelay(attempt, random, options = {}) {
  const baseMs = options.baseMs ?? DEFAULT_BASE_MS;
  const capMs = options.capMs ?? DEFAULT_CAP_MS;
  const minMs = options.minMs ?? DEFAULT_MIN_MS;
  const n = Number.isInteger(attempt) && attempt > 0 ? Math.min(attempt, 1000) : 0;
  const ceiling = Math.max(minMs, Math.min(capMs, baseMs * 2 ** n));
  let r = Number(random());
  // A broken random source must not produce a zero or negative delay.
  if (!(r >= 0 && r < 1)) r = 0.5;
  return Math.floor(minMs + r * (ceiling - minMs));
}

/**
 * What a viewer does after its session ended with `token` (an error code from the broker, a
 * close code's token, a bye reason, or one of the client's own: "network", "peer_failed",
 * "webrtc").
 *
 * @param {string} token
 * @returns {{state: string, retry: boolean, minMs: number}} state is the connection state
 *   to show; retry says whether to reconnect on its own, no sooner than minMs.
 */
export function reconnectPolicy(token) {
  switch (token) {
    case "host_disconnected":
      return { state: "host_disconnected", retry: true, minMs: DEFAULT_MIN_MS };
    case "unknown_host":
    case "host_busy":
      return { state: "error", retry: true, minMs: SLOW_RETRY_MIN_MS };
    case "unauthorized":
    case "reauth_required":
      // Signing in again (or showing the second factor again after an idle end) takes the
      // person; retrying cannot fix it.
      return { state: "error", retry: false, minMs: 0 };
    case "no_grant":
    case "outside_window":
    case "vendor_not_approved":
      // The clinic's rules refused it: an admin's decision or the clock changes that, not a retry.
      return { state: "error", retry: false, minMs: 0 };
    case "device_unregistered":
    case "device_unknown":
    case "device_pending":
    case "device_denied":
    case "device_revoked":
    case "device_signature":
    case "device_unsupported":
      // Only registering this browser or an admin's decision changes these
      // (core/device_proof.js FINAL_DEVICE_ERRORS; device_challenge is worth a retry).
      return { state: "error", retry: false, minMs: 0 };
    case "network":
    case "peer_failed":
      return { state: "disconnected", retry: true, minMs: DEFAULT_MIN_MS };
    default:
      return { state: "error", retry: true, minMs: DEFAULT_MIN_MS };
  }
}

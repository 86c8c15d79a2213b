/**
 * The connection's quality in plain words, and whether the picture is frozen.
 *
 * Pure: judged from two successive getStats() samples (core/stats.js), the peer
 * connection's state and the age of the newest picture, so it is tested without a browser.
 *
 * - "good" (良好): pictures arrive, little loss, a short round trip.
 * - "unstable" (不安定): the picture froze, or packets are being lost, or the round trip or
 *   the jitter buffer is long: what a person notices as stutter or lag.
 * - "lost" (切断): the connection is down, or no picture came for LOST_AFTER_MS.
 *
 * Frozen: the agent sends a frame at least every 0.5 s even on a still screen (its
 * keep-alive), so a picture that got no frame for FROZEN_AFTER_MS is older than the host's
 * screen may be: the viewer marks it instead of showing it as live.
 *
 * Chromium's freezeCount is not a reason: it counts a frame that came more than three
 * average frame intervals after the last, which suits a camera's steady rate, not a screen
 * sent only when it changes. Every pause after typing or after a burst of refinement frames
 * counted (3 "freezes" a second on a still screen on loopback), so the toolbar said 不安定
 * on a perfect link. A picture really stuck is the frozen rule above.
 */

export const FROZEN_AFTER_MS = 1000;
export const LOST_AFTER_MS = 5000;
// Loss over one sample (about a second) above this share of packets is noticeable.
export const UNSTABLE_LOSS = 0.03;
export const UNSTABLE_RTT_MS = 300;
export const UNSTABLE_JITTER_MS = 150;

const DOWN_STATES = new Set(["disconnected", "failed", "closed"]);

/**
 * Whether the picture is frozen, given when the newest frame came (ms, any clock) and now.
 * @param {number | null} lastFrameAt null before the first frame (not frozen: loading)
 * @param {number} now
 */
export function isFrozen(lastFrameAt, now) {
  return lastFrameAt !== null && now - lastFrameAt > FROZEN_AFTER_MS;
}

/**
 * The share of packets lost between two samples (null when unknown).
 * @param {import("./stats.js").StatsSample | null} sample
 * @param {import("./stats.js").StatsSample | null} previous
 */
export function lossBetween(sample, previous) {
  if (!sample || !previous) return null;
  const { packetsLost: lost, packetsReceived: received } = sample;
  if (lost == null || received == null || previous.packetsLost == null || previous.packetsReceived == null) {
    return null;
  }
  const newLost = Math.max(0, lost - previous.packetsLost);
  const newReceived = Math.max(0, received - previous.packetsReceived);
  const total = newLost + newReceived;
  return total > 0 ? newLost / total : null;
}

/**
 * @param {{
 *   sample: import("./stats.js").StatsSample | null,
 *   previous: import("./stats.js").StatsSample | null,
 *   connectionState: string | null,
 *   lastFrameAt: number | null,
 *   now: number,
 * }} input
 * @returns {{level: "good" | "unstable" | "lost", reasons: string[]}}
 *   reasons: "down", "no-picture", "frozen", "loss", "rtt", "jitter"
 */
export function judgeQuality({ sample, previous, connectionState, lastFrameAt, now }) {
  if (connectionState && DOWN_STATES.has(connectionState)) {
    return { level: "lost", reasons: ["down"] };
  }
  if (lastFrameAt !== null && now - lastFrameAt > LOST_AFTER_MS) {
    return { level: "lost", reasons: ["no-picture"] };
  }
  const reasons = [];
  if (isFrozen(lastFrameAt, now)) reasons.push("frozen");
  const loss = lossBetween(sample, previous);
  if (loss !== null && loss > UNSTABLE_LOSS) reasons.push("loss");
  if (sample?.rttMs != null && sample.rttMs > UNSTABLE_RTT_MS) reasons.push("rtt");
  if (sample?.jitterBufferMs != null && sample.jitterBufferMs > UNSTABLE_JITTER_MS) reasons.push("jitter");
  return { level: reasons.length ? "unstable" : "good", reasons };
}

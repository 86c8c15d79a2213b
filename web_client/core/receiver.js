/**
 * What the viewer sets on its video receiver (core/viewer_session.js) before the offer.
 */

/**
 * Show each frame as soon as it is decoded: a remote desktop wants the newest picture, not a
 * smooth one. jitterBufferTarget is the standard name (ms), playoutDelayHint Chromium's
 * older one (s).
 */
export function lowLatency(receiver) {
  if (!receiver) return;
  for (const name of ["jitterBufferTarget", "playoutDelayHint"]) {
    try {
      receiver[name] = 0;
    } catch {
      // unsupported
    }
  }
}

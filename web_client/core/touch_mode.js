/**
 * The viewer's touch mode (core/gestures.js: "direct" or "trackpad"), remembered in this
 * browser's localStorage, and the trackpad's cursor: where a relative drag moves the host's
 * pointer. Sans-I/O: the storage is passed in, points are host pixels.
 */

import { hostPixelsPerScreenPixel } from "./zoom.js";

export const TOUCH_MODE_KEY = "mamori.touchMode";
export const TOUCH_MODES = Object.freeze(["direct", "trackpad"]);
// A tablet user who has not chosen taps where they look: direct is the default.
export const DEFAULT_TOUCH_MODE = "direct";

/** The remembered mode; the default when none, unreadable storage or a foreign value. */
export function loadTouchMode(storage) {
  try {
    const value = storage?.getItem(TOUCH_MODE_KEY);
    return TOUCH_MODES.includes(value) ? value : DEFAULT_TOUCH_MODE;
  } catch {
    return DEFAULT_TOUCH_MODE; // storage refused (private mode): not remembered
  }
}

export function saveTouchMode(storage, mode) {
  if (!TOUCH_MODES.includes(mode)) throw new RangeError(`unknown touch mode ${mode}`);
  try {
    storage?.setItem(TOUCH_MODE_KEY, mode);
  } catch {
    // not remembered; the mode still applies to this page
  }
}

export function otherTouchMode(mode) {
  return mode === "trackpad" ? "direct" : "trackpad";
}

/**
 * Where the trackpad cursor starts when nothing placed it yet: the host's own cursor if
 * known, else the middle of its screen.
 */
export function trackpadStart(hostCursor, videoWidth, videoHeight) {
  if (hostCursor && Number.isInteger(hostCursor.x) && Number.isInteger(hostCursor.y)) {
    return clampPoint(hostCursor.x, hostCursor.y, videoWidth, videoHeight);
  }
  return { x: Math.floor(videoWidth / 2), y: Math.floor(videoHeight / 2) };
}

function clampPoint(x, y, videoWidth, videoHeight) {
  return {
    x: Math.min(videoWidth - 1, Math.max(0, Math.round(x))),
    y: Math.min(videoHeight - 1, Math.max(0, Math.round(y))),
  };
}

/**
 * The trackpad cursor after a finger moved (dx, dy) screen pixels: one screen pixel moves
 * it as far as one screen pixel of the picture as shown (zoomed in, finer), kept on the
 * host's screen. Sub-pixel remainders are carried in `point` (fractional x, y) and rounded
 * only in `host`.
 * @returns {{point: {x: number, y: number}, host: {x: number, y: number}} | null}
 */
export function nudgeCursor(point, dx, dy, view, frame, videoWidth, videoHeight) {
  const ratio = hostPixelsPerScreenPixel(view, frame, videoWidth);
  if (!(ratio > 0) || !(videoWidth > 0 && videoHeight > 0)) return null;
  const x = Math.min(videoWidth - 1, Math.max(0, point.x + dx * ratio));
  const y = Math.min(videoHeight - 1, Math.max(0, point.y + dy * ratio));
  return { point: { x, y }, host: clampPoint(x, y, videoWidth, videoHeight) };
}

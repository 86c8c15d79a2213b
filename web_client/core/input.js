/**
 * Messages of the `input` data channel, browser side. Mirrors host_agent/input/events.py:
 * keep the two in step.
 *
 * Sans-I/O: builds the compact JSON the agent parses and maps a pointer position in the
 * displayed <video> to host screen pixels; nothing here touches the DOM.
 *
 *     {"t":"move","x":640,"y":360}
 *     {"t":"down","b":0,"x":640,"y":360}        b = MouseEvent.button: 0 left, 1 middle, 2 right
 *     {"t":"up","b":0,"x":640,"y":360}
 *     {"t":"wheel","dx":0,"dy":-1,"x":640,"y":360}   dx/dy in wheel notches, -10..10
 *     {"t":"key","code":"KeyA","key":"a","down":true}
 *     {"t":"release"}                           release every held key and button
 *     {"t":"text","s":"患者"}                    composed text (core/text_entry.js)
 *
 * Wheel signs are the DOM's: dy > 0 scrolls down (content moves up), dx > 0 scrolls right.
 * Coordinates are host screen pixels; the agent refuses (not clamps) what lies outside the
 * screen, so the mapping below never produces such a point.
 */

// The largest valid message is a `text` message (core/text_entry.js): 64 code points of up
// to 4 bytes of UTF-8; a key event is ~90 bytes.
export const MAX_INPUT_BYTES = 512;
export const MAX_WHEEL_STEPS = 10;
export const MAX_BUTTON = 4;

// How far one wheel notch goes in each WheelEvent.deltaMode. Chromium on Windows reports
// 100 px per notch (about 53 to 120 elsewhere), Firefox in line mode 3 lines; a "page"
// (Windows' one-screen-at-a-time setting) is taken as the most one message may carry.
export const PIXELS_PER_NOTCH = 100;
export const LINES_PER_NOTCH = 3;
export const NOTCHES_PER_PAGE = MAX_WHEEL_STEPS;
export const DOM_DELTA_PIXEL = 0;
export const DOM_DELTA_LINE = 1;
export const DOM_DELTA_PAGE = 2;

// KeyboardEvent.code values are ASCII identifiers ("KeyA", "Lang1", "IntlYen").
const CODE = /^[A-Za-z0-9]{0,32}$/;
const MAX_KEY_CHARS = 32;

// MouseEvent.button -> its bit in MouseEvent.buttons (middle and right are swapped there).
const BUTTON_BITS = Object.freeze([1, 4, 2, 8, 16]);

const encoder = new TextEncoder();

function checkInt(name, value, low, high) {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new RangeError(`${name} must be an integer ${low}..${high}, got ${value}`);
  }
}

function checkPoint(x, y) {
  checkInt("x", x, 0, Number.MAX_SAFE_INTEGER);
  checkInt("y", y, 0, Number.MAX_SAFE_INTEGER);
}

/** `{"t":"move","x","y"}` */
export function moveMessage(x, y) {
  checkPoint(x, y);
  return JSON.stringify({ t: "move", x, y });
}

/**
 * `{"t":"down"|"up","b","x","y"}`
 * @param {boolean} down
 * @param {number} button MouseEvent.button, 0..4
 */
export function buttonMessage(down, button, x, y) {
  checkInt("b", button, 0, MAX_BUTTON);
  checkPoint(x, y);
  return JSON.stringify({ t: down ? "down" : "up", b: button, x, y });
}

/** `{"t":"wheel","dx","dy","x","y"}` with dx/dy in notches (see wheelNotches). */
export function wheelMessage(dx, dy, x, y) {
  checkInt("dx", dx, -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS);
  checkInt("dy", dy, -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS);
  checkPoint(x, y);
  return JSON.stringify({ t: "wheel", dx, dy, x, y });
}

/** `{"t":"release"}`: nothing may stay pressed on the host once the viewer loses focus. */
export function releaseMessage() {
  return JSON.stringify({ t: "release" });
}

function validKey(key) {
  if (typeof key !== "string") return false;
  let n = 0;
  for (const ch of key) {
    const cp = ch.codePointAt(0);
    if (cp < 0x20 || cp === 0x7f) return false;
    n += 1;
  }
  return n >= 1 && n <= MAX_KEY_CHARS;
}

/**
 * `{"t":"key","code","key","down"}` from a KeyboardEvent (or anything with code and key).
 *
 * Every physical key passes, Japanese ones included (Convert, NonConvert, KanaMode, Lang1,
 * Lang2, Backquote as 半角/全角...): the host runs its own IME, so a keydown the local IME
 * reports as key "Process" (or during isComposing) still goes out with its code. A key
 * value the agent would refuse is replaced by "Unidentified" so the code still arrives.
 *
 * @param {{code?: string, key?: string}} event
 * @param {boolean} down
 * @returns {string | null} null when there is nothing the host could use (no code and no
 *   meaningful key, e.g. a soft keyboard's "Unidentified"), or the code is not an identifier.
 */
export function keyMessage(event, down) {
  const code = typeof event.code === "string" ? event.code : "";
  if (!CODE.test(code)) return null;
  let key = event.key;
  if (!validKey(key)) {
    if (code === "") return null;
    key = "Unidentified";
  }
  if (code === "" && (key === "Process" || key === "Unidentified" || key === "Dead")) return null;
  const text = JSON.stringify({ t: "key", code, key, down: Boolean(down) });
  return encoder.encode(text).length <= MAX_INPUT_BYTES ? text : null;
}

/**
 * Ctrl+Alt+S toggles the local stats overlay and never reaches the host.
 * @param {{code?: string, ctrlKey?: boolean, altKey?: boolean, metaKey?: boolean}} event
 */
export function isStatsShortcut(event) {
  return Boolean(event.ctrlKey && event.altKey && !event.metaKey && event.code === "KeyS");
}

/**
 * Wheel notches for one WheelEvent delta: sign kept, at least one notch for any non-zero
 * delta (so a trackpad's small deltas still scroll), at most MAX_WHEEL_STEPS.
 * @param {number} delta WheelEvent.deltaX or deltaY
 * @param {number} deltaMode WheelEvent.deltaMode (0 pixels, 1 lines, 2 pages)
 * @returns {number}
 */
export function wheelNotches(delta, deltaMode) {
  if (!Number.isFinite(delta) || delta === 0) return 0;
  let notches;
  switch (deltaMode) {
    case DOM_DELTA_LINE:
      notches = Math.abs(delta) / LINES_PER_NOTCH;
      break;
    case DOM_DELTA_PAGE:
      notches = Math.abs(delta) * NOTCHES_PER_PAGE;
      break;
    default:
      notches = Math.abs(delta) / PIXELS_PER_NOTCH;
  }
  const steps = Math.min(MAX_WHEEL_STEPS, Math.max(1, Math.round(notches)));
  return delta < 0 ? -steps : steps;
}

/**
 * Map a pointer position over the displayed video to host pixels.
 *
 * The video is shown with `object-fit: contain` centred (object-position 50% 50%), so the
 * picture is the intrinsic frame scaled by min(boxW/w, boxH/h) with bars on two sides.
 *
 * @param {number} clientX pointer position (same coordinate space as `box`)
 * @param {number} clientY
 * @param {{left: number, top: number, width: number, height: number}} box the element's
 *   content box (getBoundingClientRect of a video without border or padding)
 * @param {number} videoWidth intrinsic width = host screen width
 * @param {number} videoHeight intrinsic height = host screen height
 * @param {{clamp?: boolean}} [options] clamp: map a point in the bars (or outside the
 *   element) to the nearest picture edge instead of returning null; for releasing a
 *   button that was pressed inside the picture.
 * @returns {{x: number, y: number} | null} null in the letterbox bars or when there is no
 *   picture yet.
 */
export function mapToHost(clientX, clientY, box, videoWidth, videoHeight, options = {}) {
  const ok = (v) => Number.isFinite(v);
  if (![clientX, clientY, box.left, box.top, box.width, box.height].every(ok)) return null;
  if (!(videoWidth > 0 && videoHeight > 0 && box.width > 0 && box.height > 0)) return null;
  const scale = Math.min(box.width / videoWidth, box.height / videoHeight);
  const shownW = videoWidth * scale;
  const shownH = videoHeight * scale;
  const px = clientX - box.left - (box.width - shownW) / 2;
  const py = clientY - box.top - (box.height - shownH) / 2;
  const inside = px >= 0 && py >= 0 && px <= shownW && py <= shownH;
  if (!inside && !options.clamp) return null;
  const clampInt = (v, max) => Math.min(max, Math.max(0, Math.floor(v)));
  return {
    x: clampInt(px / scale, videoWidth - 1),
    y: clampInt(py / scale, videoHeight - 1),
  };
}

/**
 * Whether `button` is held according to a MouseEvent.buttons bitmask.
 * @param {number} buttons
 * @param {number} button 0..4
 */
export function isButtonHeld(buttons, button) {
  const bit = BUTTON_BITS[button];
  return bit !== undefined && (buttons & bit) !== 0;
}

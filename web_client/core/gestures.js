/**
 * Touch gestures on the remote picture, as remote-desktop users on a tablet expect. Fed
 * Pointer Events of pointerType "touch" (not the browser's mouse emulation), it says what
 * the host should receive. Sans-I/O: positions in CSS pixels, times in milliseconds, no
 * DOM and no timers; the page calls `tick(now)` when `nextDeadline()` comes (long press).
 *
 * Two modes:
 * - trackpad: the host's cursor is moved by relative drags (like a laptop's trackpad), a
 *   tap clicks where the cursor is, a two-finger tap right-clicks, a two-finger drag
 *   scrolls;
 * - direct: a tap clicks where the finger touched, a one-finger drag moves the cursor
 *   there, a two-finger drag scrolls.
 * In both, a long press (held still) right-clicks, and a two-finger pinch zooms the
 * picture locally (nothing goes to the host for a pinch).
 *
 * Actions (what `down`, `move`, `up`, `cancel` and `tick` return, in order):
 *   {kind: "point", x, y}          direct: the finger's position (page px)
 *   {kind: "nudge", dx, dy}        trackpad: move the cursor by (page px)
 *   {kind: "click", button, at}    button 0 or 2; at: {x, y} in direct mode, null = cursor
 *   {kind: "scroll", dx, dy}       wheel notches, DOM signs (dy > 0 scrolls down)
 *   {kind: "zoom", factor, cx, cy} multiply the picture's zoom around (cx, cy)
 *   {kind: "pan", dx, dy}          move the zoomed picture by (page px)
 */

export const TAP_MAX_MS = 300;
// A finger that moved less than this is still a tap (fingers are not mice).
export const TAP_SLOP_PX = 10;
export const LONG_PRESS_MS = 600;
// Two fingers moving this far together scroll one notch.
export const PX_PER_NOTCH = 40;
// A pinch is a change of the fingers' distance by at least this much.
export const PINCH_SLOP_PX = 16;

const distance = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);
const middle = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });

export class GestureRecognizer {
  #mode;
  #touches = new Map(); // id -> {x, y, startX, startY, t}
  #startedAt = 0;
  #maxTouches = 0;
  #moved = false; // beyond the tap slop: no tap, no long press
  #longPressAt = null;
  #longPressed = false;
  #two = null; // {distance, middle, intent: null | "scroll" | "pinch", carry: {x, y}}

  /** @param {"trackpad" | "direct"} mode */
  constructor(mode = "trackpad") {
    this.setMode(mode);
  }

  get mode() {
    return this.#mode;
  }

  /** @param {"trackpad" | "direct"} mode */
  setMode(mode) {
    if (mode !== "trackpad" && mode !== "direct") throw new RangeError(`unknown mode ${mode}`);
    this.#mode = mode;
    this.#reset();
  }

  /** When `tick` must be called next (a pending long press), or null. */
  nextDeadline() {
    return this.#longPressAt;
  }

  #reset() {
    this.#touches.clear();
    this.#maxTouches = 0;
    this.#moved = false;
    this.#longPressAt = null;
    this.#longPressed = false;
    this.#two = null;
  }

  /** A finger touched at (x, y) at time t. */
  down(id, x, y, t) {
    if (this.#touches.size === 0) {
      this.#reset();
      this.#startedAt = t;
    }
    if (this.#touches.size >= 2) return []; // a third finger changes nothing
    this.#touches.set(id, { x, y, startX: x, startY: y });
    this.#maxTouches = Math.max(this.#maxTouches, this.#touches.size);
    if (this.#touches.size === 1) {
      this.#longPressAt = t + LONG_PRESS_MS;
      return this.#mode === "direct" ? [{ kind: "point", x, y }] : [];
    }
    this.#longPressAt = null;
    const [a, b] = [...this.#touches.values()];
    this.#two = { distance: distance(a, b), middle: middle(a, b), intent: null, carry: { x: 0, y: 0 } };
    return [];
  }

  /** A finger moved to (x, y). */
  move(id, x, y) {
    const touch = this.#touches.get(id);
    if (!touch) return [];
    const dx = x - touch.x;
    const dy = y - touch.y;
    touch.x = x;
    touch.y = y;
    if (Math.hypot(x - touch.startX, y - touch.startY) > TAP_SLOP_PX) {
      this.#moved = true;
      this.#longPressAt = null;
    }
    if (this.#longPressed) return [];
    if (this.#touches.size === 2) return this.#twoFingers();
    if (this.#maxTouches > 1 || !this.#moved) return [];
    return this.#mode === "direct" ? [{ kind: "point", x, y }] : [{ kind: "nudge", dx, dy }];
  }

  #twoFingers() {
    const two = this.#two;
    const [a, b] = [...this.#touches.values()];
    const now = { distance: distance(a, b), middle: middle(a, b) };
    if (two.intent === null) {
      if (Math.abs(now.distance - two.distance) > PINCH_SLOP_PX) two.intent = "pinch";
      else if (distance(now.middle, two.middle) > TAP_SLOP_PX) two.intent = "scroll";
      else return [];
      if (two.intent === "scroll") {
        // Start counting from here: the slop is not scrolled.
        two.middle = now.middle;
      }
    }
    const out = [];
    if (two.intent === "pinch") {
      if (two.distance > 0 && now.distance > 0) {
        out.push({ kind: "zoom", factor: now.distance / two.distance, cx: now.middle.x, cy: now.middle.y });
      }
      const pan = { kind: "pan", dx: now.middle.x - two.middle.x, dy: now.middle.y - two.middle.y };
      if (pan.dx || pan.dy) out.push(pan);
    } else {
      // Fingers moving up show what lies below: content scrolls down (natural scrolling).
      two.carry.x += two.middle.x - now.middle.x;
      two.carry.y += two.middle.y - now.middle.y;
      const nx = Math.trunc(two.carry.x / PX_PER_NOTCH);
      const ny = Math.trunc(two.carry.y / PX_PER_NOTCH);
      if (nx || ny) {
        two.carry.x -= nx * PX_PER_NOTCH;
        two.carry.y -= ny * PX_PER_NOTCH;
        out.push({ kind: "scroll", dx: nx, dy: ny });
      }
    }
    two.distance = now.distance;
    two.middle = now.middle;
    return out;
  }

  /** A finger lifted at time t. */
  up(id, t) {
    const touch = this.#touches.get(id);
    if (!touch) return [];
    this.#touches.delete(id);
    if (this.#touches.size > 0) return []; // the gesture ends when the last finger lifts
    const quick = t - this.#startedAt <= TAP_MAX_MS;
    const intent = this.#two?.intent ?? null;
    const tapped = !this.#moved && !this.#longPressed && quick && intent === null;
    const out = [];
    if (tapped && this.#maxTouches === 1) {
      out.push({ kind: "click", button: 0, at: this.#mode === "direct" ? { x: touch.startX, y: touch.startY } : null });
    } else if (tapped && this.#maxTouches === 2) {
      out.push({ kind: "click", button: 2, at: null });
    }
    this.#longPressAt = null;
    return out;
  }

  /** The browser took the touches (a system gesture): forget them, do nothing. */
  cancel() {
    this.#reset();
    return [];
  }

  /** Time passed: a finger held still long enough right-clicks (once). */
  tick(t) {
    if (this.#longPressAt === null || t < this.#longPressAt || this.#touches.size !== 1) return [];
    this.#longPressAt = null;
    this.#longPressed = true;
    const [touch] = [...this.#touches.values()];
    return [{ kind: "click", button: 2, at: this.#mode === "direct" ? { x: touch.startX, y: touch.startY } : null }];
  }
}

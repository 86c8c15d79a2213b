// web_client/core/gestures.js: touch gestures to host input, in both modes.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  GestureRecognizer,
  LONG_PRESS_MS,
  PX_PER_NOTCH,
  TAP_MAX_MS,
} from "../../web_client/core/gestures.js";

const kinds = (actions) => actions.map((a) => a.kind);

test("direct mode: a tap clicks where the finger touched", () => {
  const g = new GestureRecognizer("direct");
  assert.deepEqual(g.down(1, 100, 200, 0), [{ kind: "point", x: 100, y: 200 }]);
  assert.deepEqual(g.move(1, 104, 203), []); // inside the slop
  assert.deepEqual(g.up(1, 120), [{ kind: "click", button: 0, at: { x: 100, y: 200 } }]);
});

test("trackpad mode: drags nudge the cursor, a tap clicks where it is", () => {
  const g = new GestureRecognizer("trackpad");
  assert.deepEqual(g.down(1, 100, 100, 0), []);
  assert.deepEqual(g.move(1, 130, 100), [{ kind: "nudge", dx: 30, dy: 0 }]);
  assert.deepEqual(g.move(1, 130, 90), [{ kind: "nudge", dx: 0, dy: -10 }]);
  assert.deepEqual(g.up(1, 500), []); // a drag is no tap
  g.down(2, 50, 50, 1000);
  assert.deepEqual(g.up(2, 1000 + TAP_MAX_MS), [{ kind: "click", button: 0, at: null }]);
});

test("a slow touch is no tap", () => {
  const g = new GestureRecognizer("direct");
  g.down(1, 10, 10, 0);
  assert.deepEqual(g.up(1, TAP_MAX_MS + 1), []);
});

test("a long press right-clicks once, then lifting does nothing more", () => {
  const g = new GestureRecognizer("direct");
  g.down(1, 300, 400, 0);
  assert.equal(g.nextDeadline(), LONG_PRESS_MS);
  assert.deepEqual(g.tick(LONG_PRESS_MS - 1), []);
  assert.deepEqual(g.tick(LONG_PRESS_MS), [{ kind: "click", button: 2, at: { x: 300, y: 400 } }]);
  assert.deepEqual(g.tick(LONG_PRESS_MS + 500), []);
  assert.deepEqual(g.up(1, LONG_PRESS_MS + 600), []);
});

test("moving cancels the long press", () => {
  const g = new GestureRecognizer("trackpad");
  g.down(1, 0, 0, 0);
  g.move(1, 40, 0);
  assert.equal(g.nextDeadline(), null);
  assert.deepEqual(g.tick(LONG_PRESS_MS * 2), []);
});

test("a two-finger tap right-clicks", () => {
  const g = new GestureRecognizer("trackpad");
  g.down(1, 100, 100, 0);
  g.down(2, 160, 100, 20);
  assert.deepEqual(g.up(1, 100), []);
  assert.deepEqual(g.up(2, 120), [{ kind: "click", button: 2, at: null }]);
});

test("a two-finger drag scrolls in notches, fingers up scroll the content down", () => {
  const g = new GestureRecognizer("direct");
  g.down(1, 100, 500, 0);
  g.down(2, 160, 500, 10);
  const out = [];
  for (let y = 500; y >= 300; y -= 10) {
    out.push(...g.move(1, 100, y), ...g.move(2, 160, y));
  }
  const scrolls = out.filter((a) => a.kind === "scroll");
  assert.ok(scrolls.length > 0);
  assert.ok(scrolls.every((a) => a.dx === 0 && a.dy > 0));
  const total = scrolls.reduce((sum, a) => sum + a.dy, 0);
  // 200 px moved, less the slop before the gesture was known to be a scroll.
  assert.ok(total >= Math.floor((200 - 20) / PX_PER_NOTCH) && total <= 200 / PX_PER_NOTCH, total);
  assert.ok(!kinds(out).includes("click"));
  g.up(1, 900);
  assert.deepEqual(g.up(2, 900), []);
});

test("a pinch zooms around the fingers' middle and sends nothing to the host", () => {
  const g = new GestureRecognizer("direct");
  g.down(1, 200, 300, 0);
  g.down(2, 300, 300, 0);
  const out = [...g.move(1, 170, 300), ...g.move(2, 330, 300)];
  const zooms = out.filter((a) => a.kind === "zoom");
  assert.ok(zooms.length > 0);
  const factor = zooms.reduce((f, a) => f * a.factor, 1);
  assert.ok(Math.abs(factor - 160 / 100) < 0.25, factor);
  assert.ok(kinds(out).every((k) => k === "zoom" || k === "pan"));
  g.up(1, 2000);
  assert.deepEqual(g.up(2, 2000), []);
});

test("cancel forgets the touches; unknown modes are refused", () => {
  const g = new GestureRecognizer("direct");
  g.down(1, 1, 1, 0);
  g.cancel();
  assert.deepEqual(g.up(1, 10), []);
  assert.throws(() => new GestureRecognizer("mouse"), RangeError);
});

// web_client/core/touch_mode.js: the remembered touch mode and the trackpad cursor.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEFAULT_TOUCH_MODE,
  loadTouchMode,
  nudgeCursor,
  otherTouchMode,
  saveTouchMode,
  TOUCH_MODE_KEY,
  trackpadStart,
} from "../../web_client/core/touch_mode.js";
import { FIT, frameOf, zoomAround } from "../../web_client/core/zoom.js";

class MemoryStorage {
  #items = new Map();
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
}

test("the mode is remembered; nothing stored, a foreign value or a refusing storage give direct", () => {
  const storage = new MemoryStorage();
  assert.equal(loadTouchMode(storage), DEFAULT_TOUCH_MODE);
  assert.equal(DEFAULT_TOUCH_MODE, "direct");
  saveTouchMode(storage, "trackpad");
  assert.equal(storage.getItem(TOUCH_MODE_KEY), "trackpad");
  assert.equal(loadTouchMode(storage), "trackpad");
  storage.setItem(TOUCH_MODE_KEY, "mouse");
  assert.equal(loadTouchMode(storage), "direct");
  const refusing = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("QuotaExceededError");
    },
  };
  assert.equal(loadTouchMode(refusing), "direct");
  saveTouchMode(refusing, "trackpad"); // does not throw
  assert.throws(() => saveTouchMode(storage, "mouse"), RangeError);
  assert.equal(otherTouchMode("direct"), "trackpad");
  assert.equal(otherTouchMode("trackpad"), "direct");
});

test("the trackpad cursor starts at the host's cursor, else the middle of its screen", () => {
  assert.deepEqual(trackpadStart({ x: 5000, y: -3 }, 1920, 1080), { x: 1919, y: 0 });
  assert.deepEqual(trackpadStart({ x: 100, y: 200 }, 1920, 1080), { x: 100, y: 200 });
  assert.deepEqual(trackpadStart(null, 1920, 1080), { x: 960, y: 540 });
});

test("a drag moves the cursor by the picture's scale, finer when zoomed, kept on screen", () => {
  // 960x540 box showing 1920x1080: one screen pixel is two host pixels at fit.
  const frame = frameOf(960, 540, 1920, 1080);
  const moved = nudgeCursor({ x: 960, y: 540 }, 30, -10, FIT, frame, 1920, 1080);
  assert.deepEqual(moved.host, { x: 1020, y: 520 });
  const zoomed = zoomAround(FIT, 4, 480, 270, frame);
  const fine = nudgeCursor({ x: 960, y: 540 }, 30, -10, zoomed, frame, 1920, 1080);
  assert.deepEqual(fine.host, { x: 975, y: 535 });
  // Small moves add up instead of rounding away.
  let point = { x: 10, y: 10 };
  for (let i = 0; i < 8; i += 1) point = nudgeCursor(point, 1, 0, zoomed, frame, 1920, 1080).point;
  assert.equal(Math.round(point.x), 14);
  assert.deepEqual(nudgeCursor({ x: 5, y: 5 }, -1000, 99_999, FIT, frame, 1920, 1080).host, { x: 0, y: 1079 });
  assert.equal(nudgeCursor({ x: 5, y: 5 }, 1, 1, FIT, null, 1920, 1080), null);
});

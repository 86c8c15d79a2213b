// web_client/core/input.js: the `input` channel messages and pointer mapping.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  buttonMessage,
  isButtonHeld,
  isStatsShortcut,
  keyMessage,
  mapToHost,
  MAX_INPUT_BYTES,
  moveMessage,
  releaseMessage,
  wheelMessage,
  wheelNotches,
} from "../../web_client/core/input.js";

const parse = (text) => JSON.parse(text);

test("a move is {t:move,x,y} in that key order, compact", () => {
  assert.equal(moveMessage(640, 360), '{"t":"move","x":640,"y":360}');
});

test("down and up carry the MouseEvent.button as b", () => {
  assert.equal(buttonMessage(true, 0, 1, 2), '{"t":"down","b":0,"x":1,"y":2}');
  assert.equal(buttonMessage(false, 2, 1, 2), '{"t":"up","b":2,"x":1,"y":2}');
  assert.equal(parse(buttonMessage(true, 4, 0, 0)).b, 4);
});

test("a button outside 0..4 or a non-integer coordinate is a programming error", () => {
  assert.throws(() => buttonMessage(true, 5, 0, 0), RangeError);
  assert.throws(() => buttonMessage(true, -1, 0, 0), RangeError);
  assert.throws(() => moveMessage(1.5, 0), RangeError);
  assert.throws(() => moveMessage(-1, 0), RangeError);
});

test("a wheel message carries notches dx, dy and the position", () => {
  assert.equal(wheelMessage(0, -1, 640, 360), '{"t":"wheel","dx":0,"dy":-1,"x":640,"y":360}');
  assert.throws(() => wheelMessage(0, 11, 0, 0), RangeError);
});

test("release is the bare {t:release}", () => {
  assert.equal(releaseMessage(), '{"t":"release"}');
});

test("a key message carries code, key and down", () => {
  assert.equal(keyMessage({ code: "KeyA", key: "a" }, true), '{"t":"key","code":"KeyA","key":"a","down":true}');
  assert.equal(parse(keyMessage({ code: "Enter", key: "Enter" }, false)).down, false);
});

test("Japanese keys pass through with their code", () => {
  for (const [code, key] of [
    ["Convert", "Convert"],
    ["NonConvert", "NonConvert"],
    ["KanaMode", "KanaMode"],
    ["Lang1", "Lang1"],
    ["Lang2", "Lang2"],
    ["Backquote", "Zenkaku"],
    ["Backquote", "Hankaku"],
    ["Backquote", "ZenkakuHankaku"],
    ["IntlRo", "\\"],
    ["IntlYen", "¥"],
  ]) {
    assert.deepEqual(parse(keyMessage({ code, key }, true)), { t: "key", code, key, down: true });
  }
});

test("a key the local IME reports as Process is still sent when its code is set", () => {
  assert.deepEqual(parse(keyMessage({ code: "KeyK", key: "Process", isComposing: true }, true)), {
    t: "key",
    code: "KeyK",
    key: "Process",
    down: true,
  });
});

test("an event with neither a code nor a usable key is dropped", () => {
  assert.equal(keyMessage({ code: "", key: "Process" }, true), null);
  assert.equal(keyMessage({ code: "", key: "Unidentified" }, true), null);
  assert.equal(keyMessage({ key: "" }, true), null);
});

test("an event with no code but a real character is sent with an empty code", () => {
  assert.deepEqual(parse(keyMessage({ code: "", key: "あ" }, true)), { t: "key", code: "", key: "あ", down: true });
});

test("a code that is not an ASCII identifier is dropped", () => {
  assert.equal(keyMessage({ code: "Key A", key: "a" }, true), null);
  assert.equal(keyMessage({ code: "K".repeat(33), key: "a" }, true), null);
});

test("a key value the agent would refuse becomes Unidentified, keeping the code", () => {
  assert.equal(parse(keyMessage({ code: "KeyA", key: "x".repeat(33) }, true)).key, "Unidentified");
  assert.equal(parse(keyMessage({ code: "KeyA", key: "\u0000" }, true)).key, "Unidentified");
  assert.equal(parse(keyMessage({ code: "KeyA", key: "" }, true)).key, "Unidentified");
});

test("key length counts code points: 32 emoji fit, and stay under the byte limit", () => {
  const text = keyMessage({ code: "K".repeat(32), key: "😀".repeat(32) }, true);
  assert.equal(parse(text).key, "😀".repeat(32));
  assert.ok(new TextEncoder().encode(text).length <= MAX_INPUT_BYTES);
});

test("Ctrl+Alt+S is the local stats shortcut; other combinations are not", () => {
  assert.ok(isStatsShortcut({ code: "KeyS", ctrlKey: true, altKey: true }));
  assert.ok(!isStatsShortcut({ code: "KeyS", ctrlKey: true }));
  assert.ok(!isStatsShortcut({ code: "KeyS", altKey: true }));
  assert.ok(!isStatsShortcut({ code: "KeyD", ctrlKey: true, altKey: true }));
  assert.ok(!isStatsShortcut({ code: "KeyS", ctrlKey: true, altKey: true, metaKey: true }));
});

test("wheel pixels convert to notches at 100 px each, rounded", () => {
  assert.equal(wheelNotches(100, 0), 1);
  assert.equal(wheelNotches(-100, 0), -1);
  assert.equal(wheelNotches(250, 0), 3);
  assert.equal(wheelNotches(-320, 0), -3);
});

test("any non-zero wheel delta gives at least one notch, keeping its sign", () => {
  assert.equal(wheelNotches(1, 0), 1);
  assert.equal(wheelNotches(-0.5, 0), -1);
  assert.equal(wheelNotches(1, 1), 1);
});

test("a zero or non-finite wheel delta gives no notch", () => {
  assert.equal(wheelNotches(0, 0), 0);
  assert.equal(wheelNotches(-0, 1), 0);
  assert.equal(wheelNotches(Number.NaN, 0), 0);
  assert.equal(wheelNotches(Number.POSITIVE_INFINITY, 0), 0);
});

test("wheel lines convert at 3 lines a notch and pages at 10 notches", () => {
  assert.equal(wheelNotches(3, 1), 1);
  assert.equal(wheelNotches(-9, 1), -3);
  assert.equal(wheelNotches(1, 2), 10);
  assert.equal(wheelNotches(-1, 2), -10);
});

test("wheel notches are clamped to -10..10", () => {
  assert.equal(wheelNotches(5000, 0), 10);
  assert.equal(wheelNotches(-5000, 0), -10);
  assert.equal(wheelNotches(-300, 1), -10);
});

// A 1000x1000 element showing a 1920x1080 screen: scale 1000/1920, picture 1000x562.5,
// bars of 218.75 px above and below.
const WIDE = { box: { left: 10, top: 20, width: 1000, height: 1000 }, w: 1920, h: 1080 };

test("a point in the middle of the picture maps to the middle of the host screen", () => {
  const p = mapToHost(10 + 500, 20 + 500, WIDE.box, WIDE.w, WIDE.h);
  assert.deepEqual(p, { x: 960, y: 540 });
});

test("the picture's top-left corner maps to 0,0 and its bottom-right to w-1,h-1", () => {
  assert.deepEqual(mapToHost(10, 20 + 218.75, WIDE.box, WIDE.w, WIDE.h), { x: 0, y: 0 });
  assert.deepEqual(mapToHost(10 + 1000, 20 + 218.75 + 562.5, WIDE.box, WIDE.w, WIDE.h), { x: 1919, y: 1079 });
});

test("a point in the top or bottom letterbox bar maps to null", () => {
  assert.equal(mapToHost(510, 20 + 100, WIDE.box, WIDE.w, WIDE.h), null);
  assert.equal(mapToHost(510, 20 + 218.7, WIDE.box, WIDE.w, WIDE.h), null);
  assert.equal(mapToHost(510, 20 + 990, WIDE.box, WIDE.w, WIDE.h), null);
});

test("a point in the left or right pillarbox bar maps to null", () => {
  // 1000x500 element, 1280x1024 screen: scale 500/1024, picture 625 wide, bars of 187.5.
  const box = { left: 0, top: 0, width: 1000, height: 500 };
  assert.equal(mapToHost(100, 250, box, 1280, 1024), null);
  assert.equal(mapToHost(900, 250, box, 1280, 1024), null);
  assert.deepEqual(mapToHost(187.5, 0, box, 1280, 1024), { x: 0, y: 0 });
  assert.deepEqual(mapToHost(500, 250, box, 1280, 1024), { x: 640, y: 512 });
});

test("mapped coordinates are integers inside the screen", () => {
  const box = { left: 0, top: 0, width: 333, height: 777 };
  for (let x = 0; x <= 333; x += 3.7) {
    for (let y = 0; y <= 777; y += 5.3) {
      const p = mapToHost(x, y, box, 1366, 768);
      if (p === null) continue;
      assert.ok(Number.isInteger(p.x) && p.x >= 0 && p.x <= 1365, `x ${p.x}`);
      assert.ok(Number.isInteger(p.y) && p.y >= 0 && p.y <= 767, `y ${p.y}`);
    }
  }
});

test("an element larger than the screen scales up and still maps exactly", () => {
  const box = { left: 0, top: 0, width: 1600, height: 1200 };
  assert.deepEqual(mapToHost(799, 599, box, 800, 600), { x: 399, y: 299 });
  assert.deepEqual(mapToHost(1600, 1200, box, 800, 600), { x: 799, y: 599 });
});

test("with clamp a point in the bars or outside the element maps to the nearest edge", () => {
  assert.deepEqual(mapToHost(510, 20 + 5, WIDE.box, WIDE.w, WIDE.h, { clamp: true }), { x: 960, y: 0 });
  assert.deepEqual(mapToHost(-50, 5000, WIDE.box, WIDE.w, WIDE.h, { clamp: true }), { x: 0, y: 1079 });
});

test("no picture yet (intrinsic size 0) or an empty box maps to null", () => {
  assert.equal(mapToHost(5, 5, { left: 0, top: 0, width: 100, height: 100 }, 0, 0), null);
  assert.equal(mapToHost(5, 5, { left: 0, top: 0, width: 0, height: 100 }, 800, 600), null);
  assert.equal(mapToHost(Number.NaN, 5, { left: 0, top: 0, width: 100, height: 100 }, 800, 600), null);
});

test("buttons bitmask: middle is bit 4 and right bit 2, as MouseEvent defines", () => {
  assert.ok(isButtonHeld(1, 0));
  assert.ok(isButtonHeld(4, 1));
  assert.ok(isButtonHeld(2, 2));
  assert.ok(isButtonHeld(8, 3));
  assert.ok(isButtonHeld(16, 4));
  assert.ok(!isButtonHeld(2, 1));
  assert.ok(!isButtonHeld(31, 5));
});

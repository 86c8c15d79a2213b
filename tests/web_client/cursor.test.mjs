// web_client/core/cursor.js: the host's cursor messages, closed schema, and their geometry;
// and against host_agent/video/cursor.py, which writes them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  HostMessageError,
  hostToBox,
  MAX_CURSOR,
  MAX_HOST_MESSAGE_CHARS,
  parseHostMessage,
} from "../../web_client/core/cursor.js";
import { mapToHost } from "../../web_client/core/input.js";

const shape = (w, h, extra = {}) =>
  JSON.stringify({
    t: "shape",
    id: 7,
    w,
    h,
    hx: 0,
    hy: 0,
    rgba: Buffer.alloc(w * h * 4, 200).toString("base64"),
    ...extra,
  });

test("a position message gives host pixels and visibility", () => {
  assert.deepEqual(parseHostMessage('{"t":"cursor","x":640,"y":360,"v":true}'), {
    type: "cursor",
    x: 640,
    y: 360,
    visible: true,
  });
});

test("a shape message gives its size, hotspot and exactly w*h*4 RGBA bytes", () => {
  const message = parseHostMessage(shape(24, 16, { hx: 4, hy: 5 }));
  assert.equal(message.type, "shape");
  assert.equal(message.width, 24);
  assert.equal(message.height, 16);
  assert.equal(message.hotX, 4);
  assert.equal(message.hotY, 5);
  assert.ok(message.rgba instanceof Uint8ClampedArray);
  assert.equal(message.rgba.length, 24 * 16 * 4);
  assert.equal(message.rgba[0], 200);
});

test("the largest shape fits the message limit", () => {
  const text = shape(MAX_CURSOR, MAX_CURSOR);
  assert.ok(text.length <= MAX_HOST_MESSAGE_CHARS);
  assert.equal(parseHostMessage(text).width, MAX_CURSOR);
});

test("anything else is refused with HostMessageError, never passed on", () => {
  const bad = [
    new ArrayBuffer(4),
    "not json",
    "[]",
    "null",
    '{"t":"text","s":"hello"}',
    '{"t":"cursor","x":1,"y":2}',
    '{"t":"cursor","x":1,"y":2,"v":true,"note":"<b>hi</b>"}',
    '{"t":"cursor","x":-1,"y":2,"v":true}',
    '{"t":"cursor","x":1.5,"y":2,"v":true}',
    '{"t":"cursor","x":1,"y":2,"v":1}',
    '{"t":"cursor","x":"1","y":2,"v":true}',
    '{"t":"toString","x":1}',
    '{"t":"__proto__"}',
    shape(MAX_CURSOR + 1, 1),
    shape(0, 1),
    shape(4, 4, { hx: 4 }),
    shape(4, 4, { rgba: "AAAA" }),
    shape(4, 4, { rgba: "!".repeat(88) }),
    shape(4, 4, { id: -1 }),
    "x".repeat(MAX_HOST_MESSAGE_CHARS + 1),
  ];
  for (const raw of bad) {
    assert.throws(() => parseHostMessage(raw), HostMessageError, String(raw).slice(0, 60));
  }
});

test("hostToBox is the inverse of mapToHost on a letterboxed video", () => {
  const box = { left: 0, top: 0, width: 1400, height: 900 };
  for (const [x, y] of [
    [0, 0],
    [640, 360],
    [1279, 719],
  ]) {
    const spot = hostToBox(x, y, box, 1280, 720);
    const back = mapToHost(spot.left + spot.scale / 2, spot.top + spot.scale / 2, box, 1280, 720);
    assert.deepEqual(back, { x, y });
  }
  assert.equal(hostToBox(1, 1, box, 0, 0), null);
});

// ---- against the agent's writer ---------------------------------------------------------

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
const PYTHON = existsSync(VENV_PYTHON) ? VENV_PYTHON : "python3";
const probe = spawnSync(PYTHON, ["-c", "import numpy"], { encoding: "utf8" });
const skip = probe.status === 0 ? false : `${PYTHON} with numpy is not available`;

const WRITER = `
import json
from host_agent.video.cursor import position_message, shape_message
out = [position_message(0, 0, False), position_message(1919, 1079, True)]
for w, h, hx, hy in [(1, 1, 0, 0), (24, 24, 4, 4), (64, 64, 63, 63), (128, 96, 100, 10)]:
    argb = [(0x80 << 24) | (0x40 << 16) | (0x20 << 8) | 0x10] * (w * h)
    out.append(shape_message(12345, w, h, hx, hy, argb))
print(json.dumps(out))
`;

test("every message host_agent/video/cursor.py writes is accepted as written", { skip }, () => {
  const result = spawnSync(PYTHON, ["-c", WRITER], { cwd: ROOT, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const messages = JSON.parse(result.stdout).map(parseHostMessage);
  assert.deepEqual(messages[0], { type: "cursor", x: 0, y: 0, visible: false });
  assert.deepEqual(messages[1], { type: "cursor", x: 1919, y: 1079, visible: true });
  const big = messages.at(-1);
  // Cropped to 64x64 around the hotspot, which moves with the crop.
  assert.equal(big.width, 64);
  assert.equal(big.height, 64);
  assert.equal(big.hotX, 100 - (128 - 64));
  assert.equal(big.hotY, 10);
  // Premultiplied 0x80/0x40/0x20/0x10 ARGB becomes straight-alpha RGBA.
  assert.deepEqual([...big.rgba.slice(0, 4)], [127, 63, 31, 128]);
});

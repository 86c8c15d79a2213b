// web_client/core/tiles.js: lossless tile messages (binary, closed schema) and where the
// overlay goes; and against host_agent/video/lossless_tiles.py, which writes them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { hostToBox } from "../../web_client/core/cursor.js";
import {
  MAX_TILE_MESSAGE,
  overlaps,
  overlayPlacement,
  parseTileMessage,
  TileMessageError,
  tileOverlayState,
} from "../../web_client/core/tiles.js";

// A minimal valid-looking PNG head for a w x h 8-bit RGB image (the parser checks the
// signature and IHDR, the browser decodes the rest).
function png(w, h, { depth = 8, colour = 2, interlace = 0, extra = 24 } = {}) {
  const bytes = Buffer.alloc(8 + 25 + extra);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
  bytes.writeUInt32BE(13, 8);
  bytes.write("IHDR", 12, "latin1");
  bytes.writeUInt32BE(w, 16);
  bytes.writeUInt32BE(h, 20);
  bytes[24] = depth;
  bytes[25] = colour;
  bytes[28] = interlace;
  return bytes;
}

function header(kind, { generation = 7, width = 320, height = 200, magic = "MT", version = 1 } = {}) {
  const bytes = Buffer.alloc(12);
  bytes.write(magic, 0, "latin1");
  bytes[2] = version;
  bytes[3] = kind;
  bytes.writeUInt32BE(generation, 4);
  bytes.writeUInt16BE(width, 8);
  bytes.writeUInt16BE(height, 10);
  return bytes;
}

function rect(x, y, w, h) {
  const bytes = Buffer.alloc(8);
  [x, y, w, h].forEach((v, i) => bytes.writeUInt16BE(v, i * 2));
  return bytes;
}

// A WebP lossless head (RIFF, VP8L, signature, 14-bit sizes) with `body` bytes after it.
function webp(w, h, { fourcc = "VP8L", alpha = 0, version = 0, body = 21, riffDelta = 0, signature = 0x2f } = {}) {
  const bytes = Buffer.alloc(25 + body);
  bytes.write("RIFF", 0, "latin1");
  bytes.writeUInt32LE(bytes.length - 8 + riffDelta, 4);
  bytes.write("WEBP", 8, "latin1");
  bytes.write(fourcc, 12, "latin1");
  bytes.writeUInt32LE(bytes.length - 20, 16);
  bytes[20] = signature;
  bytes.writeUInt32LE((((w - 1) | ((h - 1) << 14) | (alpha << 28) | (version << 29)) >>> 0), 21);
  return bytes;
}

const tile = (x, y, w, h, options = {}, body = png(w, h)) =>
  Buffer.concat([header(1, options), rect(x, y, w, h), body]);

function invalidate(rects, options = {}, count = rects.length) {
  const n = Buffer.alloc(2);
  n.writeUInt16BE(count, 0);
  return Buffer.concat([header(2, options), n, ...rects.map((r) => rect(...r))]);
}

const arrayBuffer = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);

test("a tile message gives its frame, block and PNG bytes", () => {
  const message = parseTileMessage(arrayBuffer(tile(256, 128, 64, 72)));
  assert.equal(message.type, "tile");
  assert.deepEqual(
    { ...message, image: undefined },
    { type: "tile", generation: 7, frameWidth: 320, frameHeight: 200, x: 256, y: 128, width: 64, height: 72, image: undefined, mime: "image/png" },
  );
  assert.equal(message.image.length, 8 + 25 + 24);
  assert.equal(message.image[1], 0x50);
  assert.equal(message.mime, "image/png");
});

test("an invalidate message gives its rectangles", () => {
  const message = parseTileMessage(arrayBuffer(invalidate([[0, 0, 256, 128], [256, 128, 64, 72]])));
  assert.deepEqual(message, {
    type: "invalidate",
    generation: 7,
    frameWidth: 320,
    frameHeight: 200,
    rects: [
      { x: 0, y: 0, width: 256, height: 128 },
      { x: 256, y: 128, width: 64, height: 72 },
    ],
  });
});

test("anything else is refused with TileMessageError", () => {
  const cases = {
    text: "MT",
    "too large": Buffer.concat([tile(0, 0, 128, 128), Buffer.alloc(MAX_TILE_MESSAGE)]),
    "too short": Buffer.alloc(11),
    magic: tile(0, 0, 128, 128, { magic: "XX" }),
    version: tile(0, 0, 128, 128, { version: 2 }),
    kind: Buffer.concat([header(3), rect(0, 0, 128, 128)]),
    "zero width frame": tile(0, 0, 128, 128, { width: 0 }),
    "frame too wide": invalidate([[0, 0, 128, 128]], { width: 20_000 }),
    "off the grid": tile(64, 0, 128, 128),
    "outside the frame": tile(256, 0, 128, 128),
    "not one block": tile(0, 0, 64, 128),
    "not the clipped block": tile(256, 128, 64, 64),
    "empty": tile(0, 0, 0, 0),
    "png size differs": tile(0, 0, 128, 128, {}, png(64, 128)),
    "png with alpha": tile(0, 0, 128, 128, {}, png(128, 128, { colour: 6 })),
    "png with a palette": tile(0, 0, 128, 128, {}, png(128, 128, { colour: 3 })),
    "png 16-bit": tile(0, 0, 128, 128, {}, png(128, 128, { depth: 16 })),
    "png interlaced": tile(0, 0, 128, 128, {}, png(128, 128, { interlace: 1 })),
    "not a png": tile(0, 0, 128, 128, {}, Buffer.alloc(80, 1)),
    "png too short": tile(0, 0, 128, 128, {}, png(128, 128, { extra: 0 })),
    "webp lossy": tile(0, 0, 128, 128, {}, webp(128, 128, { fourcc: "VP8 " })),
    "webp extended": tile(0, 0, 128, 128, {}, webp(128, 128, { fourcc: "VP8X" })),
    "webp with alpha": tile(0, 0, 128, 128, {}, webp(128, 128, { alpha: 1 })),
    "webp version 1": tile(0, 0, 128, 128, {}, webp(128, 128, { version: 1 })),
    "webp size differs": tile(0, 0, 128, 128, {}, webp(128, 64)),
    "webp riff size wrong": tile(0, 0, 128, 128, {}, webp(128, 128, { riffDelta: 4 })),
    "webp without signature": tile(0, 0, 128, 128, {}, webp(128, 128, { signature: 0 })),
    "webp too short": tile(0, 0, 128, 128, {}, webp(128, 128).subarray(0, 24)),
    "no rectangles": invalidate([]),
    "count larger than the body": invalidate([[0, 0, 128, 128]], {}, 2),
    "count smaller than the body": invalidate([[0, 0, 128, 128], [128, 0, 128, 128]], {}, 1),
    "invalidation off the grid": invalidate([[10, 0, 128, 128]]),
    "invalidation outside": invalidate([[0, 128, 128, 128]]),
    "invalidation of two rows": invalidate([[0, 0, 128, 200]]),
    "invalidation of part blocks": invalidate([[0, 0, 100, 128]]),
  };
  for (const [name, raw] of Object.entries(cases)) {
    const data = typeof raw === "string" ? raw : arrayBuffer(raw);
    assert.throws(() => parseTileMessage(data), TileMessageError, name);
  }
});

test("a gray PNG is a tile too", () => {
  const message = parseTileMessage(arrayBuffer(tile(0, 0, 128, 128, {}, png(128, 128, { colour: 0 }))));
  assert.equal(message.type, "tile");
});

test("a WebP lossless image is a tile too", () => {
  const message = parseTileMessage(arrayBuffer(tile(256, 128, 64, 72, {}, webp(64, 72))));
  assert.equal(message.mime, "image/webp");
  assert.equal(message.image.length, 46);
  // An odd chunk is padded to even: the pad byte belongs to the image.
  const odd = webp(128, 128);
  odd.writeUInt32LE(odd.length - 21, 16);
  assert.equal(odd.readUInt32LE(16) % 2, 1);
  assert.equal(parseTileMessage(arrayBuffer(tile(0, 0, 128, 128, {}, odd))).mime, "image/webp");
});

test("typed-array views are read at their own offset", () => {
  const buf = Buffer.concat([Buffer.alloc(5, 9), invalidate([[0, 0, 128, 128]])]);
  const view = new Uint8Array(buf.buffer, buf.byteOffset + 5, buf.length - 5);
  assert.equal(parseTileMessage(view).rects.length, 1);
});

test("rectangles overlap only when they share pixels", () => {
  const a = { x: 0, y: 0, width: 128, height: 128 };
  assert.ok(overlaps(a, { x: 127, y: 127, width: 1, height: 1 }));
  assert.ok(!overlaps(a, { x: 128, y: 0, width: 128, height: 128 }));
  assert.ok(!overlaps(a, { x: 0, y: 128, width: 10, height: 10 }));
});

test("the overlay covers the video's picture pixel for pixel, zoomed or not", () => {
  const box = { width: 1000, height: 700 };
  const fit = overlayPlacement(box, 1280, 720, { scale: 1, x: 0, y: 0 });
  // Letterboxed: full width, bars above and below, as the video (cursor.js hostToBox).
  assert.equal(fit.width, 1000);
  assert.equal(fit.height, 562.5);
  const corner = hostToBox(0, 0, box, 1280, 720);
  assert.equal(fit.transform, `translate(0px, 0px) scale(1) translate(${corner.left}px, ${corner.top}px)`);
  const zoomed = overlayPlacement(box, 1280, 720, { scale: 2, x: -100, y: -50 });
  assert.equal(zoomed.transform, `translate(-100px, -50px) scale(2) translate(0px, ${corner.top}px)`);
  assert.equal(overlayPlacement(box, 0, 0, { scale: 1, x: 0, y: 0 }), null);
  assert.equal(overlayPlacement({ width: 0, height: 10 }, 1280, 720, { scale: 1, x: 0, y: 0 }), null);
});

// ---- against the agent's writer ---------------------------------------------------------

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
const PYTHON = existsSync(VENV_PYTHON) ? VENV_PYTHON : "python3";
const probe = spawnSync(PYTHON, ["-c", "import numpy, PIL"], { encoding: "utf8" });
const skip = probe.status === 0 ? false : `${PYTHON} with numpy and Pillow is not available`;

const WRITER = `
import base64, json
import numpy as np
from host_agent.video.lossless_tiles import BlockTracker
t = BlockTracker(1366, 770, generation=2**32 - 1, settle_s=0.0)
t.changed(np.ones((49, 86), dtype=bool), now=0.0)
rng = np.random.default_rng(3)
picture = rng.integers(0, 256, (770, 1366, 4), dtype=np.uint8)
out = t.take(picture, 1.0, allowance=10**9)
inv = t.changed(np.ones((49, 86), dtype=bool), now=2.0)
print(json.dumps([base64.b64encode(m).decode() for m in [*out, inv]]))
`;

test("every message host_agent/video/lossless_tiles.py writes is accepted as written", { skip }, () => {
  const result = spawnSync(PYTHON, ["-c", WRITER], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr);
  const messages = JSON.parse(result.stdout).map((b64) => parseTileMessage(arrayBuffer(Buffer.from(b64, "base64"))));
  // 11 x 7 blocks of noise (the worst case for size), the last column 86 px, the last row 2.
  const tiles = messages.filter((m) => m.type === "tile");
  assert.equal(tiles.length, 77);
  assert.deepEqual(
    [tiles.at(-1).x, tiles.at(-1).y, tiles.at(-1).width, tiles.at(-1).height],
    [1280, 768, 86, 2],
  );
  assert.ok(tiles.every((m) => m.generation === 2 ** 32 - 1 && m.frameWidth === 1366));
  // Noise in colour: WebP lossless, or PNG where the WebP would not fit a message.
  assert.ok(tiles.every((m) => m.mime === "image/webp" || m.mime === "image/png"));
  const last = messages.at(-1);
  assert.equal(last.type, "invalidate");
  assert.equal(last.rects.length, 7); // one run per row of blocks
  assert.deepEqual(last.rects.at(-1), { x: 0, y: 768, width: 1366, height: 2 });
});

test("the overlay's word to the host is the closed message the agent parses", () => {
  // mamori_protocol/tile_overlay.py tile_overlay_state builds the same strings.
  assert.equal(tileOverlayState(true), '{"t":"tiles","ok":true}');
  assert.equal(tileOverlayState(false), '{"t":"tiles","ok":false}');
  assert.throws(() => tileOverlayState(1), TypeError);
});

/**
 * Lossless tiles of settled regions, received as binary messages on the `input` data channel
 * (host -> browser). Mirrors host_agent/video/lossless_tiles.py: keep the two in step.
 *
 *     header   "MT" | version u8 (1) | kind u8 | generation u32 | frame width u16 | height u16
 *     kind 1   tile:       x u16 | y u16 | w u16 | h u16 | image (w x h), to the end: a PNG
 *                          (8-bit RGB or gray) or a WebP lossless (VP8L, no alpha)
 *     kind 2   invalidate: count u16 | count x (x u16 | y u16 | w u16 | h u16)
 *
 * Big-endian. Tiles are blocks of the agent's 128-px grid (clipped at the frame's right and
 * bottom edges); invalidations are runs of such blocks. Sans-I/O and closed:
 * parseTileMessage accepts exactly these forms (sizes, grid, frame bounds, the image's own
 * header agreeing with the rectangle) and throws TileMessageError for anything else. Also
 * where the overlay canvas goes so that it covers the video's picture exactly.
 */

export const BLOCK = 128;
export const MAX_TILE_MESSAGE = 64 * 1024;
export const MAX_SIDE = 16_383;
const HEADER = 12;
const RECT = 8;
const KIND_TILE = 1;
const KIND_INVALIDATE = 2;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// Signature, IHDR (25 bytes with length and CRC), at least one IDAT and IEND (12 each).
const MIN_PNG = 8 + 25 + 12 + 12;
// RIFF header (12), VP8L chunk header (8), signature byte and the 4 bytes of size.
const MIN_WEBP = 12 + 8 + 1 + 4;

export class TileMessageError extends Error {}

/**
 * The viewer -> host message saying whether the overlay draws tiles (closed schema, as
 * mamori_protocol/tile_overlay.py parses it): once it does, the host stops re-coding what
 * the tiles cover at QP 11 in the video (bytes the tiles would otherwise pay twice).
 * @param {boolean} ok
 * @returns {string}
 */
export function tileOverlayState(ok) {
  if (typeof ok !== "boolean") throw new TypeError("ok must be a boolean");
  return JSON.stringify({ t: "tiles", ok });
}

function bytesOf(raw) {
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  throw new TileMessageError("a tile message must be binary");
}

/** A rectangle of whole blocks (clipped at the frame's edges) inside the frame. */
function checkRect(x, y, width, height, frameWidth, frameHeight, oneBlock) {
  if (width < 1 || height < 1) throw new TileMessageError("empty rectangle");
  if (x % BLOCK || y % BLOCK) throw new TileMessageError("rectangle off the block grid");
  if (x + width > frameWidth || y + height > frameHeight) {
    throw new TileMessageError("rectangle outside the frame");
  }
  const whole = (start, length, limit) => length % BLOCK === 0 || start + length === limit;
  if (!whole(x, width, frameWidth) || !whole(y, height, frameHeight)) {
    throw new TileMessageError("rectangle not made of whole blocks");
  }
  if (oneBlock && (width !== Math.min(BLOCK, frameWidth - x) || height !== Math.min(BLOCK, frameHeight - y))) {
    throw new TileMessageError("a tile must be exactly one block");
  }
  if (!oneBlock && height !== Math.min(BLOCK, frameHeight - y)) {
    throw new TileMessageError("an invalidation spans one row of blocks");
  }
}

function checkPng(bytes, width, height) {
  if (bytes.length < MIN_PNG) throw new TileMessageError("PNG too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ihdr = String.fromCharCode(...bytes.subarray(12, 16));
  if (view.getUint32(8) !== 13 || ihdr !== "IHDR") throw new TileMessageError("PNG without IHDR first");
  if (view.getUint32(16) !== width || view.getUint32(20) !== height) {
    throw new TileMessageError("PNG size differs from the tile's");
  }
  // Bit depth 8, colour type 2 (RGB) or 0 (gray), no interlace: what the agent writes.
  const colour = bytes[25];
  if (bytes[24] !== 8 || (colour !== 2 && colour !== 0) || bytes[26] !== 0 || bytes[27] !== 0 || bytes[28] !== 0) {
    throw new TileMessageError("PNG must be 8-bit RGB or gray, not interlaced");
  }
  return "image/png";
}

function checkWebp(bytes, width, height) {
  if (bytes.length < MIN_WEBP) throw new TileMessageError("WebP too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (tag(8) !== "WEBP" || tag(12) !== "VP8L") throw new TileMessageError("WebP must be lossless (VP8L) only");
  // The RIFF and chunk sizes cover exactly the message's image (a chunk is padded to even).
  const chunk = view.getUint32(16, true);
  if (view.getUint32(4, true) !== bytes.length - 8 || chunk + 20 + (chunk % 2) !== bytes.length) {
    throw new TileMessageError("WebP sizes differ from the image's length");
  }
  if (bytes[20] !== 0x2f) throw new TileMessageError("VP8L signature missing");
  const bits = view.getUint32(21, true);
  if ((bits & 0x3fff) + 1 !== width || ((bits >>> 14) & 0x3fff) + 1 !== height) {
    throw new TileMessageError("WebP size differs from the tile's");
  }
  // No alpha (the agent sends opaque pixels), format version 0.
  if ((bits >>> 28) !== 0) throw new TileMessageError("WebP with alpha or an unknown version");
  return "image/webp";
}

/** The image's MIME type once its header agrees with the tile (PNG or WebP lossless only). */
function checkImage(bytes, width, height) {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return checkPng(bytes, width, height);
  if (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === "RIFF") {
    return checkWebp(bytes, width, height);
  }
  throw new TileMessageError("the image is neither PNG nor WebP");
}

/**
 * @param {ArrayBuffer | ArrayBufferView} raw one binary data-channel message
 * @returns {{type: "tile", generation: number, frameWidth: number, frameHeight: number,
 *     x: number, y: number, width: number, height: number, image: Uint8Array,
 *     mime: "image/png" | "image/webp"}
 *   | {type: "invalidate", generation: number, frameWidth: number, frameHeight: number,
 *     rects: {x: number, y: number, width: number, height: number}[]}}
 * @throws {TileMessageError} for anything that is not exactly one of the two forms
 */
export function parseTileMessage(raw) {
  const bytes = bytesOf(raw);
  if (bytes.length > MAX_TILE_MESSAGE) throw new TileMessageError("tile message too large");
  if (bytes.length < HEADER) throw new TileMessageError("tile message too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0x4d || bytes[1] !== 0x54) throw new TileMessageError("not a tile message");
  if (bytes[2] !== 1) throw new TileMessageError("unknown tile message version");
  const kind = bytes[3];
  const generation = view.getUint32(4);
  const frameWidth = view.getUint16(8);
  const frameHeight = view.getUint16(10);
  if (frameWidth < 1 || frameWidth > MAX_SIDE || frameHeight < 1 || frameHeight > MAX_SIDE) {
    throw new TileMessageError("frame size out of range");
  }
  const frame = { generation, frameWidth, frameHeight };
  if (kind === KIND_TILE) {
    if (bytes.length < HEADER + RECT + MIN_WEBP) throw new TileMessageError("tile message too short");
    const [x, y, width, height] = [0, 2, 4, 6].map((o) => view.getUint16(HEADER + o));
    checkRect(x, y, width, height, frameWidth, frameHeight, true);
    const image = bytes.subarray(HEADER + RECT);
    const mime = checkImage(image, width, height);
    return { type: "tile", ...frame, x, y, width, height, image, mime };
  }
  if (kind === KIND_INVALIDATE) {
    if (bytes.length < HEADER + 2) throw new TileMessageError("invalidate message too short");
    const count = view.getUint16(HEADER);
    if (count < 1) throw new TileMessageError("an invalidation names at least one rectangle");
    if (bytes.length !== HEADER + 2 + count * RECT) throw new TileMessageError("invalidate length mismatch");
    const rects = [];
    for (let i = 0; i < count; i += 1) {
      const at = HEADER + 2 + i * RECT;
      const [x, y, width, height] = [0, 2, 4, 6].map((o) => view.getUint16(at + o));
      checkRect(x, y, width, height, frameWidth, frameHeight, false);
      rects.push({ x, y, width, height });
    }
    return { type: "invalidate", ...frame, rects };
  }
  throw new TileMessageError("unknown tile message kind");
}

/** Do two rectangles ({x, y, width, height}) overlap? */
export function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * The overlay canvas's CSS box so that its pixel (px, py) covers the video's picture pixel
 * (px, py): object-fit: contain inside the video's layout box (`box`, CSS px), then the
 * local zoom `view` ({scale, x, y}, core/zoom.js) the page applies to the video with
 * transform-origin 0 0. The canvas sits at the box's top-left with transform-origin 0 0.
 *
 * @returns {{width: number, height: number, transform: string} | null} null without a picture
 */
export function overlayPlacement(box, videoWidth, videoHeight, view) {
  if (!(videoWidth > 0 && videoHeight > 0 && box.width > 0 && box.height > 0)) return null;
  const fit = Math.min(box.width / videoWidth, box.height / videoHeight);
  const width = videoWidth * fit;
  const height = videoHeight * fit;
  const left = (box.width - width) / 2;
  const top = (box.height - height) / 2;
  // A point p of the layout box is shown at p * scale + (x, y); the canvas's own point q is
  // the layout box's (left, top) + q.
  const transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale}) translate(${left}px, ${top}px)`;
  return { width, height, transform };
}

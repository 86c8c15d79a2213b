/**
 * The host's cursor, received on the `input` data channel (host -> browser). Mirrors
 * host_agent/video/cursor.py: keep the two in step.
 *
 *     {"t":"cursor","x":640,"y":360,"v":true}   position in host screen pixels; v: on screen
 *     {"t":"shape","id":7,"w":24,"h":24,"hx":4,"hy":4,"rgba":"<base64>"}
 *                                               w*h*4 bytes of straight-alpha RGBA, w, h <= 64
 *
 * Sans-I/O and closed: parseHostMessage accepts exactly these two forms (every field, no
 * other, in range) and throws HostMessageError for anything else. Numbers and pixels only:
 * nothing the host sends is ever shown as text. Also the geometry for drawing the cursor
 * over the letterboxed <video> (the inverse of core/input.js mapToHost).
 */

import { MonitorsError, parseMonitors } from "./monitors.js";

export const MAX_CURSOR = 64;
// A 64x64 shape is 16 KiB of RGBA, ~21.9 KiB in base64; the rest is a few short fields.
export const MAX_HOST_MESSAGE_CHARS = 22_400;
// Host screens are at most 16384 px a side (X11's own limit is 32767).
export const MAX_COORDINATE = 16_383;
const MAX_ID = 0x7fffffff;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export class HostMessageError extends Error {}

const FIELDS = Object.freeze({
  cursor: ["t", "v", "x", "y"],
  shape: ["h", "hx", "hy", "id", "rgba", "t", "w"],
  // The host's monitors (core/monitors.js), on the same channel.
  monitors: ["list", "sel", "t"],
});

function int(data, name, low, high) {
  const value = data[name];
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new HostMessageError(`${name} must be an integer ${low}..${high}`);
  }
  return value;
}

function decodeBase64(text, expectedBytes) {
  if (typeof text !== "string" || !BASE64.test(text)) {
    throw new HostMessageError("rgba must be base64");
  }
  if (text.length !== 4 * Math.ceil(expectedBytes / 3)) {
    throw new HostMessageError("rgba has the wrong length for w x h");
  }
  const binary = atob(text);
  if (binary.length !== expectedBytes) throw new HostMessageError("rgba has the wrong length");
  const bytes = new Uint8ClampedArray(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * @param {unknown} raw one data-channel message
 * @returns {{type: "cursor", x: number, y: number, visible: boolean}
 *   | {type: "shape", id: number, width: number, height: number, hotX: number,
 *      hotY: number, rgba: Uint8ClampedArray}
 *   | {type: "monitors", selected: number, monitors: object[]}} (core/monitors.js)
 * @throws {HostMessageError} for anything that is not exactly one of the three forms
 */
export function parseHostMessage(raw) {
  if (typeof raw !== "string") throw new HostMessageError("binary host messages are not accepted");
  if (raw.length > MAX_HOST_MESSAGE_CHARS) throw new HostMessageError("host message too large");
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    throw new HostMessageError("host message is not JSON");
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new HostMessageError("host message must be an object");
  }
  const fields = Object.prototype.hasOwnProperty.call(FIELDS, data.t) ? FIELDS[data.t] : null;
  if (!fields) throw new HostMessageError("unknown host message type");
  const keys = Object.keys(data).sort();
  if (keys.length !== fields.length || keys.some((k, i) => k !== fields[i])) {
    throw new HostMessageError(`${data.t}: fields must be exactly ${fields.join(", ")}`);
  }
  switch (data.t) {
    case "cursor": {
      if (typeof data.v !== "boolean") throw new HostMessageError("v must be true or false");
      return {
        type: "cursor",
        x: int(data, "x", 0, MAX_COORDINATE),
        y: int(data, "y", 0, MAX_COORDINATE),
        visible: data.v,
      };
    }
    case "shape": {
      const width = int(data, "w", 1, MAX_CURSOR);
      const height = int(data, "h", 1, MAX_CURSOR);
      return {
        type: "shape",
        id: int(data, "id", 0, MAX_ID),
        width,
        height,
        hotX: int(data, "hx", 0, width - 1),
        hotY: int(data, "hy", 0, height - 1),
        rgba: decodeBase64(data.rgba, width * height * 4),
      };
    }
    case "monitors": {
      try {
        return parseMonitors(data, raw.length);
      } catch (err) {
        if (err instanceof MonitorsError) throw new HostMessageError(err.message);
        throw err;
      }
    }
    default:
      throw new HostMessageError(`unhandled host message ${data.t}`);
  }
}

/**
 * Where host pixel (x, y) is shown inside the video element's box, and at what scale
 * (object-fit: contain, centred: the inverse of core/input.js mapToHost).
 *
 * @returns {{left: number, top: number, scale: number} | null} null without a picture
 */
export function hostToBox(x, y, box, videoWidth, videoHeight) {
  if (!(videoWidth > 0 && videoHeight > 0 && box.width > 0 && box.height > 0)) return null;
  const scale = Math.min(box.width / videoWidth, box.height / videoHeight);
  return {
    left: (box.width - videoWidth * scale) / 2 + x * scale,
    top: (box.height - videoHeight * scale) / 2 + y * scale,
    scale,
  };
}

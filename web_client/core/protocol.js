/**
 * Signaling wire protocol, browser side. Mirrors mamori_protocol/__init__.py: keep the two in step.
 *
 * Sans-I/O: nothing here touches a socket or the DOM, so every rule is tested in node with
 * plain data (tests/web_client/protocol.test.mjs).
 *
 * Every message is one JSON object in one WebSocket text frame, at most MAX_MESSAGE_BYTES
 * of UTF-8, with a `type` naming one of a closed set of types, each with a closed set of
 * fields. Which types may travel in which direction is part of the schema:
 *
 *     viewer -> broker : viewer_join, offer, ice, bye
 *     broker -> viewer : answer, ice, bye, error
 *
 * (The agent's directions are listed too, so a known type in the wrong direction is told
 * apart from an unknown type exactly as the broker does.)
 *
 * Exception tree:
 *
 *     ProtocolError
 *     ├── MessageTooBig        (close 1009)
 *     ├── MalformedMessage     (close 4400)
 *     ├── UnknownMessageType   (close 4415)
 *     └── UnexpectedMessage    (close 4405: a known type in the wrong direction)
 *
 * One known difference: JSON.parse cannot tell `1.0` from `1`, so an m-line index written
 * as `1.0` passes here while Python refuses it. Only the broker sends to this parser, and
 * the broker validates its own output, so the looser check is harmless.
 */

// 64 KiB: an SDP offer from Chromium with every codec is ~6 KiB (mamori_protocol/__init__.py).
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_SDP_CHARS = 60_000;
export const MAX_CANDIDATE_CHARS = 1024;
export const MAX_NAME_CHARS = 100;
export const MAX_ERROR_MESSAGE_CHARS = 200;
export const MAX_MLINE_INDEX = 15;
export const MAX_ORGANIZATION_CHARS = 200;
export const MAX_SESSION_SECONDS = 7 * 24 * 3600;

/** WebSocket close codes the broker uses; 4xxx mirror HTTP where one fits. */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  MALFORMED: 4400,
  UNAUTHORIZED: 4401,
  POLICY_VIOLATION: 4403,
  UNKNOWN_HOST: 4404,
  UNEXPECTED: 4405,
  HOST_BUSY: 4409,
  HOST_DISCONNECTED: 4410,
  HOST_ID_TAKEN: 4412,
  UNKNOWN_TYPE: 4415,
});

/**
 * Not a code any peer sends: the browser reports it when the socket died without a close
 * frame, which is also what a handshake the broker refused (HTTP 403) looks like.
 */
export const ABNORMAL_CLOSURE = 1006;

/** Close code -> the error token the broker's `error` message carries for it. */
const CLOSE_CODE_TOKENS = new Map([
  [CloseCode.MESSAGE_TOO_BIG, "too_big"],
  [CloseCode.MALFORMED, "malformed"],
  [CloseCode.UNAUTHORIZED, "unauthorized"],
  [CloseCode.POLICY_VIOLATION, "policy_violation"],
  [CloseCode.UNKNOWN_HOST, "unknown_host"],
  [CloseCode.UNEXPECTED, "unexpected"],
  [CloseCode.HOST_BUSY, "host_busy"],
  [CloseCode.HOST_DISCONNECTED, "host_disconnected"],
  [CloseCode.HOST_ID_TAKEN, "host_id_taken"],
  [CloseCode.UNKNOWN_TYPE, "unknown_type"],
  [CloseCode.INTERNAL_ERROR, "internal_error"],
]);

/**
 * The error token for a WebSocket close code, or null for codes that carry no error
 * (1000 normal, 1001 going away, 1006 abnormal and anything unknown).
 * @param {number} code
 * @returns {string | null}
 */
export function closeCodeToken(code) {
  return CLOSE_CODE_TOKENS.get(code) ?? null;
}

export const Direction = Object.freeze({
  VIEWER_TO_BROKER: "viewer->broker",
  BROKER_TO_AGENT: "broker->agent",
  AGENT_TO_BROKER: "agent->broker",
  BROKER_TO_VIEWER: "broker->viewer",
});

export class ProtocolError extends Error {
  /** @param {string} reason */
  constructor(reason) {
    super(reason);
    this.name = new.target.name;
    this.reason = reason;
  }

  get closeCode() {
    return CloseCode.MALFORMED;
  }
}

export class MessageTooBig extends ProtocolError {
  get closeCode() {
    return CloseCode.MESSAGE_TOO_BIG;
  }
}

export class MalformedMessage extends ProtocolError {
  get closeCode() {
    return CloseCode.MALFORMED;
  }
}

export class UnknownMessageType extends ProtocolError {
  get closeCode() {
    return CloseCode.UNKNOWN_TYPE;
  }
}

export class UnexpectedMessage extends ProtocolError {
  get closeCode() {
    return CloseCode.UNEXPECTED;
  }
}

// Patterns of mamori_protocol/__init__.py; anchored because Python uses fullmatch.
const HOST_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;
const VERSION = /^[0-9A-Za-z.+-]{1,32}$/;
const TOKEN = /^[a-z][a-z0-9_]{0,39}$/;
const SDP_MID = /^[A-Za-z0-9_.-]{0,32}$/;
const VIEWER_ID = /^[a-z0-9][a-z0-9._@+-]{0,63}$/;
const RESUME_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const TIME_ZONE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/;
// Control characters other than CR/LF/TAB never belong in signaling text.
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * Field lists per type: [name, required]. Optional fields default to null, as the
 * dataclasses' `= None` defaults do.
 */
const TYPES = Object.freeze({
  agent_hello: [["host_id", true], ["name", true], ["version", true]],
  viewer_join: [["host_id", true], ["session_id", false], ["resume", false]],
  offer: [["sdp", true], ["session_id", false]],
  answer: [["sdp", true], ["session_id", false]],
  ice: [["candidate", true], ["sdp_mid", false], ["sdp_mline_index", false], ["session_id", false]],
  bye: [["reason", true], ["session_id", false]],
  error: [["code", true], ["message", true]],
  session_start: [
    ["session_id", true],
    ["host_id", true],
    ["viewer_name", true],
    ["viewer_id", true],
    ["organization", true],
    ["watermark", true],
    ["block_local_input", true],
    ["end_on_violation", true],
    ["idle_s", true],
    ["max_s", true],
    ["view_only", true],
    ["time_zone", false],
  ],
  violation: [["violation", true], ["detail", true], ["session_id", false]],
  notice: [["code", true], ["seconds_left", true]],
  activity: [["session_id", true]],
  // mamori_protocol/resume.py: a live session carried across a broker restart.
  session_resume: [["session_id", true], ["viewer_id", true], ["elapsed_s", true]],
  session_lost: [["session_id", true], ["viewer_id", true], ["elapsed_s", true], ["reason", true]],
  session_resumed: [["session_id", true]],
  resume_token: [["token", true]],
  viewer_resume: [["token", true]],
});

const ALLOWED = Object.freeze({
  [Direction.VIEWER_TO_BROKER]: new Set(["viewer_join", "viewer_resume", "offer", "ice", "bye"]),
  [Direction.BROKER_TO_AGENT]: new Set(["session_start", "session_resumed", "offer", "ice", "bye", "error"]),
  [Direction.AGENT_TO_BROKER]: new Set([
    "agent_hello",
    "session_resume",
    "session_lost",
    "answer",
    "ice",
    "bye",
    "violation",
    "activity",
  ]),
  [Direction.BROKER_TO_VIEWER]: new Set(["answer", "ice", "bye", "error", "notice", "resume_token"]),
});

// Why a viewer may say it leaves (mamori_protocol VIEWER_BYE_REASONS): other reasons are
// the broker's or the agent's to give.
export const VIEWER_BYE_REASONS = Object.freeze(new Set(["viewer_left", "peer_failed", "webrtc"]));

// Messages to the agent always name their session; viewers never name one.
const SESSION_REQUIRED = new Set([Direction.BROKER_TO_AGENT]);
const SESSION_FORBIDDEN = new Set([Direction.VIEWER_TO_BROKER, Direction.BROKER_TO_VIEWER]);

const encoder = new TextEncoder();

/** UTF-8 length, the unit of the size limit. */
function byteLength(text) {
  return encoder.encode(text).length;
}

/** Length in code points, the unit of Python's len(str). */
function codePoints(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/**
 * Validate one wire frame and return the message it holds, as a frozen plain object with
 * `type` and every field of that type (optional ones null when absent).
 *
 * @param {unknown} raw the frame as received; anything but a string is refused.
 * @param {string} direction one of Direction.
 * @returns {Readonly<Record<string, unknown>>}
 * @throws {ProtocolError}
 */
export function parse(raw, direction) {
  if (!hasOwn(ALLOWED, direction)) throw new TypeError(`unknown direction ${String(direction)}`);
  if (typeof raw !== "string") throw new MalformedMessage("binary frames are not accepted");
  // Cheap bound first: a UTF-16 length over the limit is over it in UTF-8 too.
  if (raw.length > MAX_MESSAGE_BYTES || byteLength(raw) > MAX_MESSAGE_BYTES) {
    throw new MessageTooBig(`message larger than ${MAX_MESSAGE_BYTES} bytes`);
  }
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    throw new MalformedMessage("message is not valid JSON");
  }
  if (!isPlainObject(data)) throw new MalformedMessage("message must be a JSON object");
  const kind = data.type;
  if (typeof kind !== "string") throw new MalformedMessage("message has no type");
  if (!hasOwn(TYPES, kind)) {
    throw new UnknownMessageType(`unknown message type ${JSON.stringify(kind.slice(0, 40))}`);
  }
  if (!ALLOWED[direction].has(kind)) {
    throw new UnexpectedMessage(`${kind} is not allowed ${direction}`);
  }
  const fields = { ...data };
  delete fields.type;
  const message = build(kind, fields);
  checkSession(message, direction);
  if (direction === Direction.VIEWER_TO_BROKER && kind === "bye" && !VIEWER_BYE_REASONS.has(message.reason)) {
    throw new MalformedMessage("bye: not a reason a viewer may give");
  }
  return message;
}

/**
 * Parse a frame the broker sent to this viewer.
 * @param {unknown} text
 * @returns {Readonly<Record<string, unknown>>}
 * @throws {ProtocolError}
 */
export function parseBrokerMessage(text) {
  return parse(text, Direction.BROKER_TO_VIEWER);
}

/**
 * Serialise a viewer message; refuses what the broker would refuse, so a bug is caught here
 * and not as a closed socket.
 * @param {Record<string, unknown>} message with `type` and fields; null fields are left out.
 * @param {string} [direction]
 * @returns {string}
 * @throws {ProtocolError}
 */
export function encode(message, direction = Direction.VIEWER_TO_BROKER) {
  const out = { type: message.type };
  for (const [key, value] of Object.entries(message)) {
    if (key !== "type" && value !== null && value !== undefined) out[key] = value;
  }
  const text = JSON.stringify(out);
  parse(text, direction);
  return text;
}

/** `viewer_join{host_id}`: the first message on /ws/viewer. */
export function viewerJoin(hostId) {
  // resume: this page takes its signaling back after a broker restart (resume_token).
  return encode({ type: "viewer_join", host_id: hostId, resume: true });
}

/** `viewer_resume{token}`: the first message on /ws/viewer/resume (the page's secret). */
export function viewerResume(token) {
  return encode({ type: "viewer_resume", token });
}

/** `offer{sdp}`: the browser opens the `input` channel, so it offers. */
export function offer(sdp) {
  return encode({ type: "offer", sdp });
}

/**
 * `ice{candidate, sdp_mid, sdp_mline_index}`; an empty candidate marks the end.
 * @param {string} candidate
 * @param {string | null} [sdpMid]
 * @param {number | null} [sdpMLineIndex]
 */
export function ice(candidate, sdpMid = null, sdpMLineIndex = null) {
  return encode({ type: "ice", candidate, sdp_mid: sdpMid, sdp_mline_index: sdpMLineIndex });
}

/** `bye{reason}`: the viewer leaves; reason is a token such as `viewer_left`. */
export function bye(reason) {
  return encode({ type: "bye", reason });
}

function build(kind, data) {
  const spec = TYPES[kind];
  const names = new Set(spec.map(([name]) => name));
  const unknown = Object.keys(data).filter((k) => !names.has(k)).sort();
  if (unknown.length > 0) {
    throw new MalformedMessage(`${kind}: unknown field ${JSON.stringify(unknown[0].slice(0, 40))}`);
  }
  const message = { type: kind };
  for (const [name, required] of spec) {
    if (hasOwn(data, name)) {
      message[name] = data[name];
    } else if (required) {
      throw new MalformedMessage(`${kind}: missing field`);
    } else {
      message[name] = null;
    }
  }
  for (const [name] of spec) VALIDATORS[name](kind, name, message[name]);
  return Object.freeze(message);
}

function checkSession(message, direction) {
  const sessionId = hasOwn(message, "session_id") ? message.session_id : null;
  if (SESSION_REQUIRED.has(direction) && sessionId === null && message.type !== "error") {
    throw new MalformedMessage(`${message.type}: session_id is required ${direction}`);
  }
  if (SESSION_FORBIDDEN.has(direction) && sessionId !== null) {
    throw new MalformedMessage(`${message.type}: session_id is not allowed ${direction}`);
  }
}

function text(kind, name, value, { limit, pattern, allowEmpty = false }) {
  if (typeof value !== "string") throw new MalformedMessage(`${kind}.${name} must be a string`);
  const length = codePoints(value);
  if (length > limit || (length === 0 && !allowEmpty)) {
    throw new MalformedMessage(`${kind}.${name} must be 1..${limit} characters`);
  }
  if (pattern && !pattern.test(value)) {
    throw new MalformedMessage(`${kind}.${name} has invalid characters`);
  }
  if (CONTROL.test(value)) {
    throw new MalformedMessage(`${kind}.${name} contains control characters`);
  }
}

function oneLine(kind, name, value, what) {
  if (/[\n\r]/.test(value) || (what === "name" && value.includes("\t"))) {
    throw new MalformedMessage(`${kind}.${name} must be one line`);
  }
}

const VALIDATORS = Object.freeze({
  host_id: (kind, name, value) => text(kind, name, value, { limit: 63, pattern: HOST_ID }),
  session_id: (kind, name, value) => {
    if (value !== null) text(kind, name, value, { limit: 64, pattern: SESSION_ID });
  },
  name: (kind, name, value) => {
    text(kind, name, value, { limit: MAX_NAME_CHARS, pattern: null });
    oneLine(kind, name, value, "name");
  },
  version: (kind, name, value) => text(kind, name, value, { limit: 32, pattern: VERSION }),
  sdp: (kind, name, value) => {
    text(kind, name, value, { limit: MAX_SDP_CHARS, pattern: null });
    if (!value.startsWith("v=0")) {
      throw new MalformedMessage(`${kind}.${name} is not an SDP session description`);
    }
  },
  candidate: (kind, name, value) => {
    text(kind, name, value, { limit: MAX_CANDIDATE_CHARS, pattern: null, allowEmpty: true });
    if (value && !value.startsWith("candidate:")) {
      throw new MalformedMessage(`${kind}.${name} is not an ICE candidate line`);
    }
    oneLine(kind, name, value, "candidate");
  },
  sdp_mid: (kind, name, value) => {
    if (value !== null) text(kind, name, value, { limit: 32, pattern: SDP_MID, allowEmpty: true });
  },
  sdp_mline_index: (kind, name, value) => {
    if (value === null) return;
    // JSON true must not pass as m-line 1.
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new MalformedMessage(`${kind}.${name} must be an integer`);
    }
    if (value < 0 || value > MAX_MLINE_INDEX) {
      throw new MalformedMessage(`${kind}.${name} must be 0..${MAX_MLINE_INDEX}`);
    }
  },
  reason: (kind, name, value) => text(kind, name, value, { limit: 40, pattern: TOKEN }),
  code: (kind, name, value) => text(kind, name, value, { limit: 40, pattern: TOKEN }),
  message: (kind, name, value) =>
    text(kind, name, value, { limit: MAX_ERROR_MESSAGE_CHARS, pattern: null }),
  viewer_name: (kind, name, value) => {
    text(kind, name, value, { limit: MAX_NAME_CHARS, pattern: null });
    oneLine(kind, name, value, "name");
  },
  token: (kind, name, value) => text(kind, name, value, { limit: 43, pattern: RESUME_TOKEN }),
  viewer_id: (kind, name, value) => text(kind, name, value, { limit: 64, pattern: VIEWER_ID }),
  organization: (kind, name, value) => {
    text(kind, name, value, { limit: MAX_ORGANIZATION_CHARS, pattern: null });
    oneLine(kind, name, value, "name");
  },
  watermark: flag,
  block_local_input: flag,
  end_on_violation: flag,
  view_only: flag,
  time_zone: (kind, name, value) => {
    if (value !== null) text(kind, name, value, { limit: 64, pattern: TIME_ZONE });
  },
  idle_s: seconds,
  max_s: seconds,
  seconds_left: seconds,
  elapsed_s: seconds,
  resume: (kind, name, value) => {
    if (value !== null) flag(kind, name, value);
  },
  violation: (kind, name, value) => text(kind, name, value, { limit: 40, pattern: TOKEN }),
  detail: (kind, name, value) =>
    text(kind, name, value, { limit: MAX_ERROR_MESSAGE_CHARS, pattern: null }),
});

function flag(kind, name, value) {
  if (typeof value !== "boolean") throw new MalformedMessage(`${kind}.${name} must be true or false`);
}

function seconds(kind, name, value) {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new MalformedMessage(`${kind}.${name} must be an integer`);
  }
  if (value < 0 || value > MAX_SESSION_SECONDS) {
    throw new MalformedMessage(`${kind}.${name} must be 0..${MAX_SESSION_SECONDS}`);
  }
}

/**
 * Whether `value` is a host id the broker would accept (for routes and the host list).
 * @param {unknown} value
 */
export function isHostId(value) {
  return typeof value === "string" && HOST_ID.test(value);
}

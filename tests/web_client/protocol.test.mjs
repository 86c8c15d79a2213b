// web_client/core/protocol.js: the closed signaling schema, browser side.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  bye,
  closeCodeToken,
  CloseCode,
  Direction,
  encode,
  ice,
  isHostId,
  MalformedMessage,
  MAX_MESSAGE_BYTES,
  MessageTooBig,
  offer,
  parse,
  parseBrokerMessage,
  ProtocolError,
  UnexpectedMessage,
  UnknownMessageType,
  viewerJoin,
} from "../../web_client/core/protocol.js";

const SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const CANDIDATE = "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host";

function refuses(raw, cls, pattern) {
  assert.throws(
    () => parseBrokerMessage(typeof raw === "string" ? raw : JSON.stringify(raw)),
    (err) => err instanceof cls && (!pattern || pattern.test(err.message)),
  );
}

test("an answer from the broker parses into type and sdp", () => {
  const message = parseBrokerMessage(JSON.stringify({ type: "answer", sdp: SDP }));
  assert.deepEqual({ ...message }, { type: "answer", sdp: SDP, session_id: null });
  assert.ok(Object.isFrozen(message));
});

test("an ice message fills absent optional fields with null", () => {
  const message = parseBrokerMessage(JSON.stringify({ type: "ice", candidate: CANDIDATE }));
  assert.equal(message.candidate, CANDIDATE);
  assert.equal(message.sdp_mid, null);
  assert.equal(message.sdp_mline_index, null);
});

test("an empty ice candidate (end of candidates) is accepted", () => {
  const message = parseBrokerMessage('{"type":"ice","candidate":"","sdp_mid":"0","sdp_mline_index":0}');
  assert.equal(message.candidate, "");
  assert.equal(message.sdp_mline_index, 0);
});

test("bye and error from the broker parse with their tokens", () => {
  assert.equal(parseBrokerMessage('{"type":"bye","reason":"host_disconnected"}').reason, "host_disconnected");
  const error = parseBrokerMessage('{"type":"error","code":"host_busy","message":"in use"}');
  assert.equal(error.code, "host_busy");
  assert.equal(error.message, "in use");
});

test("a frame over 64 KiB of UTF-8 is refused as too big (close 1009)", () => {
  const raw = JSON.stringify({ type: "answer", sdp: "v=0" + "a".repeat(MAX_MESSAGE_BYTES) });
  assert.throws(() => parseBrokerMessage(raw), (err) => err instanceof MessageTooBig && err.closeCode === 1009);
});

test("the size limit counts UTF-8 bytes, not UTF-16 units", () => {
  // 22 000 three-byte characters: 22 000 code units, 66 000 bytes.
  const raw = JSON.stringify({ type: "error", code: "x", message: "あ".repeat(22_000) });
  assert.ok(raw.length < MAX_MESSAGE_BYTES);
  refuses(raw, MessageTooBig);
});

test("a binary frame is refused as malformed", () => {
  assert.throws(() => parseBrokerMessage(new ArrayBuffer(4)), MalformedMessage);
});

test("text that is not JSON is refused as malformed (close 4400)", () => {
  assert.throws(() => parseBrokerMessage("{nope"), (err) => err instanceof MalformedMessage && err.closeCode === 4400);
});

test("a JSON value that is not an object is refused", () => {
  refuses("[1,2]", MalformedMessage, /object/);
  refuses("null", MalformedMessage, /object/);
  refuses('"answer"', MalformedMessage, /object/);
});

test("a message without a string type is refused", () => {
  refuses({ sdp: SDP }, MalformedMessage, /no type/);
  refuses({ type: 7, sdp: SDP }, MalformedMessage, /no type/);
});

test("an unknown type is refused with close 4415", () => {
  assert.throws(
    () => parseBrokerMessage('{"type":"clipboard","text":"x"}'),
    (err) => err instanceof UnknownMessageType && err.closeCode === 4415,
  );
});

test("an inherited property name is not a known type", () => {
  refuses({ type: "constructor" }, UnknownMessageType);
  refuses({ type: "__proto__" }, UnknownMessageType);
});

test("a known type in the wrong direction is refused with close 4405", () => {
  for (const type of ["offer", "viewer_join", "agent_hello"]) {
    const raw = { viewer_join: { type, host_id: "pc-1" }, offer: { type, sdp: SDP } }[type] ??
      { type, host_id: "pc-1", name: "PC", version: "1" };
    assert.throws(
      () => parseBrokerMessage(JSON.stringify(raw)),
      (err) => err instanceof UnexpectedMessage && err.closeCode === 4405,
    );
  }
});

test("an unknown field is refused", () => {
  refuses({ type: "answer", sdp: SDP, extra: 1 }, MalformedMessage, /unknown field "extra"/);
});

test("a missing required field is refused", () => {
  refuses({ type: "answer" }, MalformedMessage, /missing field/);
  refuses({ type: "error", code: "x" }, MalformedMessage, /missing field/);
});

test("a session_id from the broker to a viewer is refused", () => {
  refuses({ type: "answer", sdp: SDP, session_id: "A".repeat(22) }, MalformedMessage, /session_id is not allowed/);
});

test("a null session_id counts as absent, as Python's None default does", () => {
  assert.equal(parseBrokerMessage(JSON.stringify({ type: "answer", sdp: SDP, session_id: null })).session_id, null);
});

test("a field of the wrong kind is refused", () => {
  refuses({ type: "answer", sdp: 5 }, MalformedMessage, /must be a string/);
  refuses({ type: "bye", reason: null }, MalformedMessage, /must be a string/);
});

test("an SDP that does not start with v=0 is refused", () => {
  refuses({ type: "answer", sdp: "o=- 1 2" }, MalformedMessage, /SDP/);
});

test("an empty SDP is refused", () => {
  refuses({ type: "answer", sdp: "" }, MalformedMessage, /1\.\.60000/);
});

test("an SDP over 60 000 characters is refused", () => {
  refuses({ type: "answer", sdp: "v=0" + "a".repeat(60_000) }, MalformedMessage, /60000/);
});

test("a candidate not starting with candidate: is refused", () => {
  refuses({ type: "ice", candidate: "a=candidate:1" }, MalformedMessage, /ICE candidate/);
});

test("a candidate spanning lines is refused", () => {
  refuses({ type: "ice", candidate: `${CANDIDATE}\r\na=x` }, MalformedMessage, /one line/);
});

test("a candidate over 1024 characters is refused", () => {
  refuses({ type: "ice", candidate: "candidate:" + "1".repeat(1020) }, MalformedMessage, /1024/);
});

test("an sdp_mid with invalid characters is refused", () => {
  refuses({ type: "ice", candidate: CANDIDATE, sdp_mid: "a b" }, MalformedMessage, /invalid characters/);
});

test("an m-line index that is a boolean, a fraction or out of 0..15 is refused", () => {
  refuses({ type: "ice", candidate: CANDIDATE, sdp_mline_index: true }, MalformedMessage, /integer/);
  refuses({ type: "ice", candidate: CANDIDATE, sdp_mline_index: 0.5 }, MalformedMessage, /integer/);
  refuses({ type: "ice", candidate: CANDIDATE, sdp_mline_index: "0" }, MalformedMessage, /integer/);
  refuses({ type: "ice", candidate: CANDIDATE, sdp_mline_index: 16 }, MalformedMessage, /0\.\.15/);
  refuses({ type: "ice", candidate: CANDIDATE, sdp_mline_index: -1 }, MalformedMessage, /0\.\.15/);
});

test("a reason or code that is not a lower-case token is refused", () => {
  refuses({ type: "bye", reason: "Host gone" }, MalformedMessage, /invalid characters/);
  refuses({ type: "bye", reason: "a".repeat(41) }, MalformedMessage, /1\.\.40/);
  refuses({ type: "error", code: "9lives", message: "m" }, MalformedMessage, /invalid characters/);
});

test("control characters in text fields are refused", () => {
  refuses({ type: "error", code: "x", message: "bell\u0007" }, MalformedMessage, /control characters/);
  refuses({ type: "answer", sdp: "v=0\u0000" }, MalformedMessage, /control characters/);
});

test("an error message over 200 characters is refused", () => {
  refuses({ type: "error", code: "x", message: "m".repeat(201) }, MalformedMessage, /200/);
});

test("text limits count code points, as Python's len does", () => {
  // 200 emoji are 400 UTF-16 units but 200 characters in Python.
  assert.equal(parseBrokerMessage(JSON.stringify({ type: "error", code: "x", message: "😀".repeat(200) })).message.length, 400);
});

test("every refusal is a ProtocolError with a close code and a reason", () => {
  try {
    parseBrokerMessage("{");
    assert.fail("expected a refusal");
  } catch (err) {
    assert.ok(err instanceof ProtocolError);
    assert.equal(typeof err.reason, "string");
    assert.equal(err.closeCode, CloseCode.MALFORMED);
  }
});

test("builders produce the compact wire form the broker parses", () => {
  assert.equal(viewerJoin("pc-1"), '{"type":"viewer_join","host_id":"pc-1","resume":true}');
  assert.equal(offer(SDP), JSON.stringify({ type: "offer", sdp: SDP }));
  assert.equal(ice(CANDIDATE, "0", 0), JSON.stringify({ type: "ice", candidate: CANDIDATE, sdp_mid: "0", sdp_mline_index: 0 }));
  assert.equal(ice(""), '{"type":"ice","candidate":""}');
  assert.equal(bye("viewer_left"), '{"type":"bye","reason":"viewer_left"}');
});

test("builders refuse what the broker would refuse", () => {
  assert.throws(() => viewerJoin("PC_1"), MalformedMessage);
  assert.throws(() => offer("not sdp"), MalformedMessage);
  assert.throws(() => ice("candidate:1", "0", 99), MalformedMessage);
  assert.throws(() => bye("Bye!"), MalformedMessage);
});

test("encode refuses a type the viewer may not send", () => {
  assert.throws(() => encode({ type: "answer", sdp: SDP }), UnexpectedMessage);
});

test("viewer-to-broker parsing accepts what the builders make", () => {
  assert.equal(parse(viewerJoin("pc-1"), Direction.VIEWER_TO_BROKER).host_id, "pc-1");
});

test("close codes map to the broker's error tokens; normal closes carry none", () => {
  assert.equal(closeCodeToken(4404), "unknown_host");
  assert.equal(closeCodeToken(4409), "host_busy");
  assert.equal(closeCodeToken(4410), "host_disconnected");
  assert.equal(closeCodeToken(4401), "unauthorized");
  assert.equal(closeCodeToken(4400), "malformed");
  assert.equal(closeCodeToken(4415), "unknown_type");
  assert.equal(closeCodeToken(4405), "unexpected");
  assert.equal(closeCodeToken(1009), "too_big");
  assert.equal(closeCodeToken(1000), null);
  assert.equal(closeCodeToken(1006), null);
});

test("host ids follow the broker's pattern", () => {
  assert.ok(isHostId("reception-pc"));
  assert.ok(isHostId("a"));
  assert.ok(!isHostId("-x"));
  assert.ok(!isHostId("Reception"));
  assert.ok(!isHostId("a".repeat(64)));
  assert.ok(!isHostId("pc-1\n"));
});

test("a viewer's bye gives only a viewer's reasons", () => {
  for (const reason of ["viewer_left", "peer_failed", "webrtc"]) assert.equal(JSON.parse(bye(reason)).reason, reason);
  for (const reason of ["ended_by_admin", "idle_timeout"]) {
    assert.throws(() => bye(reason), MalformedMessage);
    assert.equal(parseBrokerMessage(`{"type":"bye","reason":"${reason}"}`).reason, reason);
  }
});

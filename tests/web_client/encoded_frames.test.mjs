// web_client/core/encoded_frames.js: the canvas video path's decisions (which decoder, when a
// frame may be decoded, when to ask for a keyframe, when to give up) and its opt-in setting.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  decoderConfigFor,
  ERROR_WINDOW_MS,
  FrameGate,
  KEYFRAME_RETRY_MS,
  MAX_ERRORS,
  wantsCanvasPath,
} from "../../web_client/core/encoded_frames.js";

const H264 = "video/H264";
const VP8 = "video/VP8";

test("decoder configurations for what core/codecs.js negotiates, nothing else", () => {
  assert.equal(decoderConfigFor("video/H264").codec, "avc1.640033");
  assert.equal(decoderConfigFor("video/h264").codec, "avc1.640033");
  assert.equal(decoderConfigFor(VP8).codec, "vp8");
  assert.equal(decoderConfigFor(VP8).optimizeForLatency, true);
  for (const other of ["video/VP9", "video/AV1", "video/rtx", "", undefined, null]) {
    assert.equal(decoderConfigFor(other), null, String(other));
  }
});

test("opt-in: the URL wins over the stored setting, the default is the <video>", () => {
  assert.equal(wantsCanvasPath("", null), false);
  assert.equal(wantsCanvasPath("?video=canvas", null), true);
  assert.equal(wantsCanvasPath("", "canvas"), true);
  assert.equal(wantsCanvasPath("?video=element", "canvas"), false);
  assert.equal(wantsCanvasPath("?video=bogus", "canvas"), true);
  assert.equal(wantsCanvasPath("?video=bogus", "element"), false);
  assert.equal(wantsCanvasPath("?x=1&video=canvas", undefined), true);
});

test("the first frame configures the decoder; deltas before a keyframe are skipped and ask for one", () => {
  const gate = new FrameGate();
  const first = gate.frame({ type: "delta", mimeType: H264, now: 0 });
  assert.deepEqual(first, { decode: false, configure: decoderConfigFor(H264), requestKeyFrame: true });
  // Asked again only after KEYFRAME_RETRY_MS.
  assert.equal(gate.frame({ type: "delta", mimeType: H264, now: 100 }).requestKeyFrame, false);
  assert.equal(gate.frame({ type: "delta", mimeType: H264, now: KEYFRAME_RETRY_MS }).requestKeyFrame, true);
  const key = gate.frame({ type: "key", mimeType: H264, now: 600 });
  assert.deepEqual(key, { decode: true, configure: null, requestKeyFrame: false });
  assert.deepEqual(gate.frame({ type: "delta", mimeType: H264, now: 633 }), {
    decode: true,
    configure: null,
    requestKeyFrame: false,
  });
  assert.deepEqual(gate.counts, { decoded: 2, skipped: 3, keyRequests: 2, errors: 0 });
});

test("a stream that starts on a keyframe asks for nothing", () => {
  const gate = new FrameGate();
  assert.deepEqual(gate.frame({ type: "key", mimeType: VP8, now: 0 }), {
    decode: true,
    configure: decoderConfigFor(VP8),
    requestKeyFrame: false,
  });
  for (let i = 1; i < 10; i += 1) assert.equal(gate.frame({ type: "delta", mimeType: VP8, now: i * 33 }).decode, true);
  assert.equal(gate.counts.keyRequests, 0);
});

test("a decoder error: a new decoder, a keyframe asked at once, deltas skipped until it comes", () => {
  const gate = new FrameGate();
  gate.frame({ type: "key", mimeType: H264, now: 0 });
  gate.frame({ type: "delta", mimeType: H264, now: 33 });
  // Asked at once even though the last ask is recent: the error is news.
  const after = gate.decoderError(50, "corrupt");
  assert.deepEqual(after, { configure: decoderConfigFor(H264), requestKeyFrame: true });
  assert.equal(gate.failed, false);
  const skipped = gate.frame({ type: "delta", mimeType: H264, now: 66 });
  assert.deepEqual(skipped, { decode: false, configure: null, requestKeyFrame: false });
  assert.equal(gate.frame({ type: "key", mimeType: H264, now: 120 }).decode, true);
  assert.equal(gate.frame({ type: "delta", mimeType: H264, now: 150 }).decode, true);
});

test("MAX_ERRORS errors within the window: give up (the <video> takes over)", () => {
  const gate = new FrameGate();
  gate.frame({ type: "key", mimeType: H264, now: 0 });
  for (let i = 1; i < MAX_ERRORS; i += 1) {
    gate.decoderError(i * 1000, "corrupt");
    assert.equal(gate.failed, false);
  }
  assert.deepEqual(gate.decoderError(MAX_ERRORS * 1000, "corrupt"), { configure: null, requestKeyFrame: false });
  assert.equal(gate.failed, true);
  assert.equal(gate.failure, "corrupt");
  assert.deepEqual(gate.frame({ type: "key", mimeType: H264, now: 99_000 }), {
    decode: false,
    configure: null,
    requestKeyFrame: false,
  });
});

test("errors spread wider than the window do not add up", () => {
  const gate = new FrameGate();
  gate.frame({ type: "key", mimeType: VP8, now: 0 });
  for (let i = 0; i < 3 * MAX_ERRORS; i += 1) gate.decoderError(i * ERROR_WINDOW_MS, "corrupt");
  assert.equal(gate.failed, false);
  assert.equal(gate.counts.errors, 3 * MAX_ERRORS);
});

test("a codec change (renegotiation) reconfigures and waits for a keyframe", () => {
  const gate = new FrameGate();
  gate.frame({ type: "key", mimeType: H264, now: 0 });
  const changed = gate.frame({ type: "delta", mimeType: VP8, now: 1000 });
  assert.deepEqual(changed, { decode: false, configure: decoderConfigFor(VP8), requestKeyFrame: true });
  assert.deepEqual(gate.frame({ type: "key", mimeType: VP8, now: 1033 }), {
    decode: true,
    configure: null,
    requestKeyFrame: false,
  });
});

test("a codec with no decoder here fails the path at once", () => {
  const gate = new FrameGate();
  assert.equal(gate.frame({ type: "key", mimeType: "video/AV1", now: 0 }).decode, false);
  assert.equal(gate.failed, true);
  assert.match(gate.failure, /video\/av1/);
});

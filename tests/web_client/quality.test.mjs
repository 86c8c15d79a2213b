// web_client/core/quality.js: the connection's quality in plain words (良好 / 不安定 / 切断)
// from two getStats() samples, and the frozen-picture rule. No DOM.
import assert from "node:assert/strict";
import { test } from "node:test";

import { hasKey, setLanguage, t } from "../../web_client/core/i18n.js";
import {
  FROZEN_AFTER_MS,
  LOST_AFTER_MS,
  isFrozen,
  judgeQuality,
  lossBetween,
} from "../../web_client/core/quality.js";
import { summarizeStats } from "../../web_client/core/stats.js";

function report({ t: at, received, lost, freezes = 0, rtt = 0.03, jitterDelay = 0.02, emitted = 1 }) {
  return [
    { id: "IT1", type: "inbound-rtp", kind: "video", timestamp: at, bytesReceived: received * 1000, framesDecoded: received, packetsReceived: received, packetsLost: lost, freezeCount: freezes, jitterBufferDelay: jitterDelay, jitterBufferEmittedCount: emitted },
    { id: "T1", type: "transport", selectedCandidatePairId: "P1" },
    { id: "P1", type: "candidate-pair", currentRoundTripTime: rtt },
  ];
}

function samples(first, second) {
  const previous = summarizeStats(report(first), null);
  return { previous, sample: summarizeStats(report(second), previous) };
}

const NOW = 100_000;

test("a steady stream with pictures arriving is good", () => {
  const { previous, sample } = samples({ t: 1000, received: 1000, lost: 0 }, { t: 2000, received: 1700, lost: 5 });
  const q = judgeQuality({ sample, previous, connectionState: "connected", lastFrameAt: NOW - 40, now: NOW });
  assert.deepEqual(q, { level: "good", reasons: [] });
});

test("5 % of packets lost in the last second is unstable", () => {
  const { previous, sample } = samples({ t: 1000, received: 1000, lost: 0 }, { t: 2000, received: 1700, lost: 37 });
  assert.ok(Math.abs(lossBetween(sample, previous) - 37 / 737) < 1e-9);
  const q = judgeQuality({ sample, previous, connectionState: "connected", lastFrameAt: NOW - 40, now: NOW });
  assert.equal(q.level, "unstable");
  assert.deepEqual(q.reasons, ["loss"]);
});

test("a long round trip or a full jitter buffer is unstable", () => {
  const slow = samples({ t: 1000, received: 10, lost: 0 }, { t: 2000, received: 20, lost: 0, rtt: 0.45 });
  assert.deepEqual(judgeQuality({ ...slow, connectionState: "connected", lastFrameAt: NOW, now: NOW }).reasons, ["rtt"]);
  const buffered = samples({ t: 1000, received: 10, lost: 0 }, { t: 2000, received: 20, lost: 0, jitterDelay: 0.2 });
  assert.deepEqual(judgeQuality({ ...buffered, connectionState: "connected", lastFrameAt: NOW, now: NOW }).reasons, ["jitter"]);
});

test("Chromium's freeze count alone is not unstable: a screen sent on change pauses often", () => {
  const paused = samples({ t: 1000, received: 10, lost: 0, freezes: 2 }, { t: 2000, received: 13, lost: 0, freezes: 5 });
  const q = judgeQuality({ ...paused, connectionState: "connected", lastFrameAt: NOW - 300, now: NOW });
  assert.deepEqual(q, { level: "good", reasons: [] });
});

test("a picture with no frame for over a second is frozen and the quality unstable", () => {
  assert.equal(isFrozen(NOW - FROZEN_AFTER_MS, NOW), false);
  assert.equal(isFrozen(NOW - FROZEN_AFTER_MS - 1, NOW), true);
  assert.equal(isFrozen(null, NOW), false); // no picture yet: loading, not frozen
  const q = judgeQuality({ sample: null, previous: null, connectionState: "connected", lastFrameAt: NOW - 1500, now: NOW });
  assert.deepEqual(q, { level: "unstable", reasons: ["frozen"] });
});

test("a connection that is down, or no picture for seconds, is lost", () => {
  for (const state of ["disconnected", "failed", "closed"]) {
    assert.equal(judgeQuality({ sample: null, previous: null, connectionState: state, lastFrameAt: NOW, now: NOW }).level, "lost");
  }
  const q = judgeQuality({ sample: null, previous: null, connectionState: "connected", lastFrameAt: NOW - LOST_AFTER_MS - 1, now: NOW });
  assert.deepEqual(q, { level: "lost", reasons: ["no-picture"] });
});

test("counters that went backwards (a new connection) are not counted as loss", () => {
  const { previous, sample } = samples({ t: 1000, received: 5000, lost: 100 }, { t: 2000, received: 50, lost: 0 });
  assert.equal(lossBetween(sample, previous), null);
});

test("the words exist in Japanese and English", () => {
  for (const key of ["quality.label", "quality.good", "quality.unstable", "quality.lost", "viewer.frozen"]) {
    assert.ok(hasKey(key), key);
  }
  setLanguage("ja");
  assert.deepEqual([t("quality.good"), t("quality.unstable"), t("quality.lost")], ["良好", "不安定", "切断"]);
  assert.match(t("viewer.frozen", { seconds: 3 }), /3 秒前/);
  setLanguage("en");
  assert.deepEqual([t("quality.good"), t("quality.unstable"), t("quality.lost")], ["Good", "Unstable", "Disconnected"]);
  assert.equal(t("viewer.frozen", { seconds: 3 }), "Picture frozen (3 s old)");
});

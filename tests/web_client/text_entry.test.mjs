// web_client/core/text_entry.js: viewer-side text as `input` messages, paced under the
// agent's limit.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_INPUT_BYTES } from "../../web_client/core/input.js";
import {
  allowsViewerText,
  MAX_QUEUED,
  MAX_TEXT_CHARS,
  PACED_BURST,
  PACED_PER_S,
  TextPacer,
  textMessages,
} from "../../web_client/core/text_entry.js";

const parse = (text) => JSON.parse(text);

test("committed text is one NFC text message", () => {
  const [message] = textMessages("か\u3099んじゃ");
  assert.equal(message, '{"t":"text","s":"がんじゃ"}');
});

test("long text is split at 64 code points, astral characters counted once", () => {
  const messages = textMessages("𠮷".repeat(MAX_TEXT_CHARS + 1)).map(parse);
  assert.deepEqual(
    messages.map((m) => [...m.s].length),
    [MAX_TEXT_CHARS, 1],
  );
  for (const m of textMessages("𠮷".repeat(MAX_TEXT_CHARS))) {
    assert.ok(new TextEncoder().encode(m).length <= MAX_INPUT_BYTES);
  }
});

test("newline and tab become Enter and Tab keys in order; other controls are dropped", () => {
  const messages = textMessages("所見\r\n異常\tなし\u0007").map(parse);
  assert.deepEqual(messages, [
    { t: "text", s: "所見" },
    { t: "key", code: "Enter", key: "Enter", down: true },
    { t: "key", code: "Enter", key: "Enter", down: false },
    { t: "text", s: "異常" },
    { t: "key", code: "Tab", key: "Tab", down: true },
    { t: "key", code: "Tab", key: "Tab", down: false },
    { t: "text", s: "なし" },
  ]);
  assert.deepEqual(textMessages("\u0000\ud800"), []);
  assert.deepEqual(textMessages(""), []);
});

test("only viewer_text and both let the viewer send text", () => {
  assert.ok(allowsViewerText("viewer_text"));
  assert.ok(allowsViewerText("both"));
  assert.ok(!allowsViewerText("host_ime"));
  assert.ok(!allowsViewerText(undefined));
  assert.ok(!allowsViewerText("clipboard"));
});

function fakeTime() {
  const timers = [];
  const clock = {
    now: 0,
    setTimeout: (fn, ms) => timers.push({ fn, at: clock.now + ms }) - 1,
    clearTimeout: (id) => {
      if (timers[id]) timers[id].fn = null;
    },
    advance(ms) {
      const until = clock.now + ms;
      for (let guard = 0; guard < 10_000; guard += 1) {
        const due = timers.filter((t) => t.fn && t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        clock.now = due.at;
        const fn = due.fn;
        due.fn = null;
        fn();
      }
      clock.now = until;
    },
  };
  return clock;
}

test("the pacer sends a burst, then no faster than its rate, keys kept in order", () => {
  const time = fakeTime();
  const sent = [];
  const pacer = new TextPacer((m) => sent.push([time.now, m]) > 0, {
    now: () => time.now,
    setTimeout: time.setTimeout,
    clearTimeout: time.clearTimeout,
  });
  const text = Array.from({ length: 30 }, (_, i) => JSON.stringify({ t: "text", s: String(i) }));
  const enter = JSON.stringify({ t: "key", code: "Enter", key: "Enter", down: true });
  pacer.push([...text, enter]);
  assert.equal(sent.length, PACED_BURST);
  time.advance(5000);
  assert.deepEqual(
    sent.map(([, m]) => m),
    [...text, enter],
  );
  // The agent's bucket (host_agent/input/channel_policy.py: 20 a second, 20 at once)
  // admits every one, even with each message delayed by up to 200 ms of jitter.
  let tokens = 20;
  let updated = 0;
  const arrivals = sent
    .filter(([, m]) => parse(m).t === "text")
    .map(([at], i) => at + (i % 2 === 0 ? 200 : 0))
    .sort((a, b) => a - b);
  for (const at of arrivals) {
    tokens = Math.min(20, tokens + ((at - updated) / 1000) * 20);
    updated = at;
    assert.ok(tokens >= 1, `refused at ${at} ms`);
    tokens -= 1;
  }
  const last = sent[sent.length - 1][0];
  assert.ok(last >= ((30 - PACED_BURST) / PACED_PER_S) * 1000 - 1);
});

test("the pacer's queue is bounded and cleared when the session ends", () => {
  const time = fakeTime();
  const sent = [];
  const pacer = new TextPacer((m) => sent.push(m) > 0, {
    now: () => time.now,
    setTimeout: time.setTimeout,
    clearTimeout: time.clearTimeout,
  });
  const many = Array.from({ length: MAX_QUEUED + 5 }, () => '{"t":"text","s":"a"}');
  assert.equal(pacer.push(many), 5);
  assert.equal(pacer.pending, MAX_QUEUED - PACED_BURST);
  pacer.clear();
  time.advance(60_000);
  assert.equal(sent.length, PACED_BURST);
});

test("a closed channel stops the pacer", () => {
  const time = fakeTime();
  let calls = 0;
  const pacer = new TextPacer(() => {
    calls += 1;
    return false;
  }, { now: () => time.now, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout });
  pacer.push(['{"t":"text","s":"a"}', '{"t":"text","s":"b"}']);
  assert.equal(calls, 1);
  assert.equal(pacer.pending, 0);
});

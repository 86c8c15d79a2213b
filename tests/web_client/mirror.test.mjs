// The JS schemas against the Python ones they mirror: the same frames go through
// mamori_protocol/__init__.py and host_agent/input/events.py (stdlib only) and web_client/core.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  buttonMessage,
  keyMessage,
  mapToHost,
  moveMessage,
  releaseMessage,
  wheelMessage,
  wheelNotches,
} from "../../web_client/core/input.js";
import { Direction, parse, ProtocolError } from "../../web_client/core/protocol.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// Both Python modules are stdlib only; the project's venv is preferred when it exists.
const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
const PYTHON = existsSync(VENV_PYTHON) ? VENV_PYTHON : "python3";
const probe = spawnSync(PYTHON, ["--version"], { encoding: "utf8" });
const skip = probe.status === 0 ? false : `${PYTHON} is not available`;

function runPython(script, input) {
  const result = spawnSync(PYTHON, ["-c", script], {
    cwd: ROOT,
    input: JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const PROTOCOL_SCRIPT = `
import json, sys
import mamori_protocol as protocol
out = []
for raw, direction in json.load(sys.stdin):
    try:
        protocol.parse(raw, protocol.Direction(direction))
        out.append("ok")
    except protocol.ProtocolError as exc:
        out.append(int(exc.close_code))
print(json.dumps(out))
`;

const SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const CAND = "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host";
const SID = "A".repeat(22);
const START = {
  session_id: SID,
  host_id: "pc-1",
  viewer_name: "山田 太郎",
  viewer_id: "yamada",
  organization: "さくら内科クリニック",
  watermark: true,
  block_local_input: false,
  end_on_violation: true,
  idle_s: 600,
  max_s: 28800,
  view_only: false,
};

const FRAMES = [
  { type: "answer", sdp: SDP },
  { type: "answer", sdp: SDP, session_id: SID },
  { type: "answer", sdp: SDP, session_id: null },
  { type: "answer" },
  { type: "answer", sdp: "" },
  { type: "answer", sdp: "x" },
  { type: "answer", sdp: 3 },
  { type: "answer", sdp: SDP, more: 1 },
  { type: "offer", sdp: SDP },
  { type: "viewer_join", host_id: "pc-1" },
  { type: "viewer_join", host_id: "PC" },
  { type: "viewer_join", host_id: "pc-1", session_id: SID },
  { type: "agent_hello", host_id: "pc-1", name: "PC", version: "1.0" },
  { type: "ice", candidate: CAND },
  { type: "ice", candidate: "" },
  { type: "ice", candidate: CAND, sdp_mid: "0", sdp_mline_index: 0 },
  { type: "ice", candidate: CAND, sdp_mid: "", sdp_mline_index: 15 },
  { type: "ice", candidate: CAND, sdp_mline_index: 16 },
  { type: "ice", candidate: CAND, sdp_mline_index: true },
  { type: "ice", candidate: CAND, sdp_mline_index: "1" },
  { type: "ice", candidate: CAND, sdp_mid: "a b" },
  { type: "ice", candidate: "a=candidate" },
  { type: "ice", candidate: `${CAND}\n` },
  { type: "ice", candidate: "candidate:" + "1".repeat(1020) },
  { type: "bye", reason: "host_disconnected" },
  { type: "bye", reason: "Host" },
  { type: "bye", reason: "" },
  { type: "bye", reason: "a".repeat(41) },
  { type: "error", code: "host_busy", message: "busy" },
  { type: "error", code: "host_busy", message: "" },
  { type: "error", code: "x", message: "m".repeat(200) },
  { type: "error", code: "x", message: "m".repeat(201) },
  { type: "error", code: "x", message: "😀".repeat(200) },
  { type: "error", code: "x", message: "tab\there" },
  { type: "error", code: "x", message: "bell\u0007" },
  { type: "error", code: "x", message: "あ".repeat(22_000) },
  { type: "notice", code: "ending_soon", seconds_left: 300 },
  { type: "notice", code: "ending_soon", seconds_left: -1 },
  { type: "notice", code: "ending_soon", seconds_left: true },
  { type: "notice", code: "ending_soon", seconds_left: 7 * 24 * 3600 + 1 },
  { type: "violation", violation: "foreign_channel", detail: "channel clipboard", session_id: SID },
  { type: "violation", violation: "Foreign", detail: "x" },
  { type: "session_start", ...START },
  { type: "session_start", ...START, watermark: 1 },
  { type: "session_start", ...START, viewer_id: "Yamada" },
  { type: "session_start", ...START, organization: "a\tb" },
  { type: "session_start", ...START, idle_s: 1.5 },
  { type: "session_start", ...START, extra: 1 },
  { type: "session_start", ...START, view_only: true },
  { type: "session_start", ...START, view_only: "yes" },
  { type: "session_start", ...START, view_only: undefined },
  { type: "clipboard", text: "x" },
  { type: "constructor" },
  { sdp: SDP },
  { type: 1 },
];
const RAW = ["{", "[]", "null", "1", '"x"', "", "{}", JSON.stringify({ type: "answer", sdp: "v=0" + "a".repeat(70_000) })];

test("the JS parser refuses and accepts exactly what mamori_protocol/__init__.py does, with the same close code", { skip }, () => {
  const cases = [];
  for (const direction of Object.values(Direction)) {
    for (const frame of FRAMES) cases.push([JSON.stringify(frame), direction]);
    for (const raw of RAW) cases.push([raw, direction]);
  }
  const expected = runPython(PROTOCOL_SCRIPT, cases);
  const actual = cases.map(([raw, direction]) => {
    try {
      parse(raw, direction);
      return "ok";
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return err.closeCode;
    }
  });
  for (let i = 0; i < cases.length; i += 1) {
    assert.equal(actual[i], expected[i], `${cases[i][1]} ${cases[i][0].slice(0, 120)}`);
  }
});

const INPUT_SCRIPT = `
import json, sys
from host_agent.input.events import InvalidInput, parse_input
out = []
for raw in json.load(sys.stdin):
    try:
        out.append(type(parse_input(raw, 1920, 1080)).__name__)
    except InvalidInput as exc:
        out.append("refused: " + str(exc))
print(json.dumps(out))
`;

test("every input message the JS builds is accepted by host_agent/input/events.py", { skip }, () => {
  const box = { left: 0, top: 0, width: 1000, height: 800 };
  const corners = [
    [0, 0],
    [999.9, 799.9],
    [1000, 800],
    [500, 400],
  ].map(([x, y]) => mapToHost(x, y, box, 1920, 1080, { clamp: true }));
  const messages = [
    releaseMessage(),
    ...corners.map((p) => moveMessage(p.x, p.y)),
    ...[0, 1, 2, 3, 4].flatMap((b) => [buttonMessage(true, b, 0, 0), buttonMessage(false, b, 1919, 1079)]),
    wheelMessage(wheelNotches(-1e9, 0), wheelNotches(1e9, 0), 10, 10),
    wheelMessage(0, wheelNotches(3, 1), 10, 10),
  ];
  const keys = [
    { code: "KeyA", key: "a" },
    { code: "Convert", key: "Convert" },
    { code: "NonConvert", key: "NonConvert" },
    { code: "KanaMode", key: "KanaMode" },
    { code: "Lang1", key: "HangulMode" },
    { code: "Lang2", key: "Process" },
    { code: "Backquote", key: "Zenkaku" },
    { code: "Backquote", key: "Hankaku" },
    { code: "IntlYen", key: "¥" },
    { code: "IntlRo", key: "\\" },
    { code: "KeyA", key: "Process" },
    { code: "Quote", key: '"' },
    { code: "KeyE", key: "é" },
    { code: "KeyX", key: "😀" },
    { code: "KeyX", key: "x".repeat(40) },
    { code: "KeyX", key: "\u0007" },
    { code: "", key: "あ" },
    { code: "F12", key: "F12" },
    { code: "Tab", key: "Tab" },
  ];
  for (const key of keys) {
    for (const down of [true, false]) {
      const text = keyMessage(key, down);
      assert.ok(text, `built ${JSON.stringify(key)}`);
      messages.push(text);
    }
  }
  const verdicts = runPython(INPUT_SCRIPT, messages);
  verdicts.forEach((verdict, i) => assert.ok(!verdict.startsWith("refused"), `${messages[i]}: ${verdict}`));
});

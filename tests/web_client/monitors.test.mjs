// core/monitors.js against mamori_protocol/monitors.py: the same messages through both.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { HostMessageError, parseHostMessage } from "../../web_client/core/cursor.js";
import { ALL_MONITORS, monitorChoice, MonitorsError, switcherEntries } from "../../web_client/core/monitors.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
const PYTHON = existsSync(VENV_PYTHON) ? VENV_PYTHON : "python3";
const skip = spawnSync(PYTHON, ["--version"]).status === 0 ? false : `${PYTHON} is not available`;

const TWO = {
  t: "monitors",
  sel: 0,
  list: [
    { id: 0, x: 0, y: 0, w: 1920, h: 1080, p: true },
    { id: 1, x: 1920, y: -200, w: 1280, h: 1024, p: false },
  ],
};

function edited(edit) {
  const data = structuredClone(TWO);
  edit(data);
  return JSON.stringify(data);
}

const CASES = [
  JSON.stringify(TWO),
  edited((d) => (d.sel = -1)),
  edited((d) => (d.name = "DP-1")),
  edited((d) => (d.list[0].name = "DP-1")),
  edited((d) => (d.list[0].w = 0)),
  edited((d) => (d.list[0].w = 16_385)),
  edited((d) => (d.list[0].x = 40_000)),
  edited((d) => (d.list[0].x = 1.5)),
  edited((d) => (d.list[0].p = 1)),
  edited((d) => (d.list[1].id = 0)),
  edited((d) => (d.list[1].p = true)),
  edited((d) => (d.sel = 5)),
  edited((d) => (d.sel = true)),
  edited((d) => (d.list = [])),
  edited((d) => (d.list = Array(17).fill(d.list[0]))),
  JSON.stringify(TWO).slice(0, -1) + " ".repeat(2048) + "}",
];

function jsVerdict(raw) {
  try {
    parseHostMessage(raw);
    return "ok";
  } catch (err) {
    if (!(err instanceof HostMessageError)) throw err;
    return "refused";
  }
}

test("the viewer accepts exactly the lists the agent's schema accepts", { skip }, () => {
  const script = `
import json, sys
from mamori_protocol.monitors import MonitorMessageError, parse_monitors_message
out = []
for raw in json.load(sys.stdin):
    try:
        parse_monitors_message(raw)
        out.append("ok")
    except MonitorMessageError:
        out.append("refused")
print(json.dumps(out))
`;
  const result = spawnSync(PYTHON, ["-c", script], { cwd: ROOT, input: JSON.stringify(CASES), encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const python = JSON.parse(result.stdout);
  assert.deepEqual(CASES.map(jsVerdict), python);
  assert.deepEqual(python.slice(0, 3), ["ok", "ok", "refused"]);
});

test("a valid list parses to monitors and the selection", () => {
  const message = parseHostMessage(JSON.stringify(TWO));
  assert.equal(message.type, "monitors");
  assert.equal(message.selected, 0);
  assert.deepEqual(message.monitors[1], { id: 1, left: 1920, top: -200, width: 1280, height: 1024, primary: false });
});

test("choices are closed and checked before they are sent", () => {
  assert.equal(monitorChoice(1), '{"t":"monitor","id":1}');
  assert.equal(monitorChoice(ALL_MONITORS), '{"t":"monitor","id":-1}');
  for (const bad of [16, -2, 1.5, "1", null]) assert.throws(() => monitorChoice(bad), MonitorsError);
});

test("the switcher lists numbered monitors, then all; nothing for a single monitor", () => {
  const t = (key, params = {}) => `${key}:${Object.values(params).join("x")}`;
  const { monitors } = parseHostMessage(JSON.stringify(TWO));
  assert.deepEqual(switcherEntries(monitors, t), [
    { value: 0, label: "viewer.monitorPrimary:1x1920x1080" },
    { value: 1, label: "viewer.monitorItem:2x1280x1024" },
    { value: -1, label: "viewer.monitorAll:" },
  ]);
  assert.deepEqual(switcherEntries(monitors.slice(0, 1), t), []);
});

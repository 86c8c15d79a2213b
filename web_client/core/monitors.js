/**
 * The host's monitors, listed by the agent on the `input` channel, and the viewer's choice.
 * Mirrors mamori_protocol/monitors.py: keep the two in step.
 *
 *     host -> viewer  {"t":"monitors","sel":0,"list":[{"id":0,"x":0,"y":0,"w":1920,"h":1080,
 *                     "p":true}, ...]}                    at most 16 monitors, 2048 bytes
 *     viewer -> host  {"t":"monitor","id":1}              id -1: all as one desktop
 *
 * Sans-I/O and closed: parseMonitors accepts exactly that form (every field, no other, in
 * range) and throws MonitorsError otherwise. Numbers only: monitors are labelled here by
 * number and size, never with text from the host.
 */

export const ALL_MONITORS = -1;
export const MAX_MONITORS = 16;
export const MAX_MONITORS_MESSAGE_CHARS = 2048;
const MAX_SIDE = 16_384;
const MAX_OFFSET = 32_767;
const MONITOR_FIELDS = ["h", "id", "p", "w", "x", "y"];

export class MonitorsError extends Error {}

function int(data, name, low, high) {
  const value = data[name];
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new MonitorsError(`${name} must be an integer ${low}..${high}`);
  }
  return value;
}

function monitor(item) {
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    throw new MonitorsError("a monitor must be an object");
  }
  const keys = Object.keys(item).sort();
  if (keys.length !== MONITOR_FIELDS.length || keys.some((k, i) => k !== MONITOR_FIELDS[i])) {
    throw new MonitorsError(`monitor: fields must be exactly ${MONITOR_FIELDS.join(", ")}`);
  }
  if (typeof item.p !== "boolean") throw new MonitorsError("p must be true or false");
  return {
    id: int(item, "id", 0, MAX_MONITORS - 1),
    left: int(item, "x", -MAX_OFFSET, MAX_OFFSET),
    top: int(item, "y", -MAX_OFFSET, MAX_OFFSET),
    width: int(item, "w", 1, MAX_SIDE),
    height: int(item, "h", 1, MAX_SIDE),
    primary: item.p,
  };
}

/**
 * A parsed `monitors` object (core/cursor.js parseHostMessage has checked its three keys).
 *
 * @param {{t: "monitors", sel: unknown, list: unknown}} data
 * @param {number} rawLength the message's length in characters
 * @returns {{type: "monitors", selected: number, monitors: Array<{id: number, left: number,
 *   top: number, width: number, height: number, primary: boolean}>}}
 * @throws {MonitorsError}
 */
export function parseMonitors(data, rawLength) {
  if (rawLength > MAX_MONITORS_MESSAGE_CHARS) throw new MonitorsError("monitors message too large");
  if (!Array.isArray(data.list) || data.list.length < 1 || data.list.length > MAX_MONITORS) {
    throw new MonitorsError(`list must hold 1..${MAX_MONITORS} monitors`);
  }
  const monitors = data.list.map(monitor);
  const ids = new Set(monitors.map((m) => m.id));
  if (ids.size !== monitors.length) throw new MonitorsError("monitor ids must be unique");
  if (monitors.filter((m) => m.primary).length > 1) {
    throw new MonitorsError("at most one primary monitor");
  }
  const selected = int(data, "sel", ALL_MONITORS, MAX_MONITORS - 1);
  if (selected !== ALL_MONITORS && !ids.has(selected)) {
    throw new MonitorsError("sel names no listed monitor");
  }
  return { type: "monitors", selected, monitors };
}

/** The viewer's choice, for the `input` channel. */
export function monitorChoice(id) {
  if (!Number.isInteger(id) || id < ALL_MONITORS || id >= MAX_MONITORS) {
    throw new MonitorsError("no such monitor");
  }
  return JSON.stringify({ t: "monitor", id });
}

/**
 * The switcher's entries: each monitor (numbered from 1, with its size), then "all" when
 * there are several; none when there is only one (nothing to choose).
 *
 * @param {(key: string, params?: object) => string} t the i18n function
 * @returns {Array<{value: number, label: string}>}
 */
export function switcherEntries(monitors, t) {
  if (monitors.length < 2) return [];
  const entries = monitors.map((m, index) => ({
    value: m.id,
    label: t(m.primary ? "viewer.monitorPrimary" : "viewer.monitorItem", {
      n: index + 1,
      w: m.width,
      h: m.height,
    }),
  }));
  entries.push({ value: ALL_MONITORS, label: t("viewer.monitorAll") });
  return entries;
}

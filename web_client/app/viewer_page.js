/**
 * viewer.html: one host's screen (app/viewer.js over core/viewer_connection.js). The
 * host's name comes from the host list (GET /api/hosts, asked once as a background call);
 * until it answers the title is the host id.
 */

import { readHosts } from "../core/host_list.js";
import { call } from "./api.js";
import { startPage } from "./shell.js";
import { createViewer } from "./viewer.js";

const names = new Map();

const viewer = createViewer({
  video: document.getElementById("remote-video"),
  title: document.getElementById("viewer-host-name"),
  status: document.getElementById("connection-status"),
  statusText: document.getElementById("connection-status-text"),
  statusDetail: document.getElementById("connection-status-detail"),
  message: document.getElementById("viewer-message"),
  reconnect: document.getElementById("reconnect-button"),
  statsOverlay: document.getElementById("stats-overlay"),
  statsList: document.getElementById("stats-list"),
  statsToggle: document.getElementById("stats-toggle"),
  textBox: document.getElementById("viewer-text-box"),
  textField: document.getElementById("viewer-text"),
  touchMode: document.getElementById("touch-mode-toggle"),
  keyboard: document.getElementById("keyboard-button"),
  keys: document.getElementById("viewer-keys"),
  quality: document.getElementById("connection-quality"),
  frozen: document.getElementById("frozen-marker"),
  monitorBox: document.getElementById("monitor-box"),
  monitorSelect: document.getElementById("monitor-select"),
  hostName: (hostId) => names.get(hostId) ?? null,
  // クリアスクリーン: the sign-in pages ask for the second factor, then the host list opens.
  onReauth: () => {
    window.location.hash = "#/login";
  },
});

async function learnNames() {
  // Not the person's own activity: it must not keep an idle sign-in alive.
  const { status, body } = await call("GET", "/api/hosts", undefined, { background: true });
  if (status !== 200) return;
  for (const host of readHosts(body) ?? []) names.set(host.hostId, host.name);
  viewer.relabel();
}

startPage({
  page: "viewer",
  enter(screen, route) {
    if (screen !== "viewer") throw new Error(`unhandled screen ${screen}`);
    viewer.open(route.hostId);
    if (!names.has(route.hostId)) learnNames();
  },
  relabel() {
    viewer.relabel();
  },
  leave() {
    viewer.close("viewer_left");
  },
});

/**
 * Entry point: language, hash routing between the host list and the viewer.
 *
 * Routes: `#/` host list, `#/host/<host_id>` viewer (core/route.js).
 */

import { getLanguage, otherLanguage, setLanguage, STORAGE_KEY, t } from "../core/i18n.js";
import { parseRoute } from "../core/route.js";
import { createHostList } from "./hosts.js";
import { createViewer } from "./viewer.js";

function readSavedLanguage() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled (private mode, policy): Japanese
  }
}

function saveLanguage(lang) {
  try {
    window.localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Not persisted; the choice still holds for this page.
  }
}

/** Apply `data-i18n` (text) and `data-i18n-label` (aria-label and title) under `root`. */
function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    const label = t(el.dataset.i18nLabel);
    el.setAttribute("aria-label", label);
    el.title = label;
  }
}

function main() {
  setLanguage(readSavedLanguage());

  const hostList = createHostList({
    list: document.getElementById("host-list"),
    message: document.getElementById("hosts-message"),
    updated: document.getElementById("hosts-updated"),
  });
  const viewer = createViewer({
    screen: document.getElementById("screen-viewer"),
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
    hostName: (hostId) => hostList.nameOf(hostId),
  });

  const hostsScreen = document.getElementById("screen-hosts");
  const viewerScreen = document.getElementById("screen-viewer");
  const langToggle = document.getElementById("lang-toggle");

  function applyLanguage() {
    const lang = getLanguage();
    document.documentElement.lang = lang;
    document.title = t("app.title");
    translateStatic();
    // The button names the language it switches to, in that language.
    langToggle.textContent = t("lang.switch");
    langToggle.lang = otherLanguage(lang);
    langToggle.setAttribute("aria-label", t("lang.switchLabel"));
    hostList.relabel();
    viewer.relabel();
  }

  langToggle.addEventListener("click", () => {
    saveLanguage(setLanguage(otherLanguage()));
    applyLanguage();
  });

  function route() {
    const current = parseRoute(window.location.hash);
    switch (current.name) {
      case "viewer":
        hostList.stop();
        hostsScreen.hidden = true;
        viewerScreen.hidden = false;
        document.body.dataset.screen = "viewer";
        viewer.open(current.hostId);
        break;
      case "hosts":
        viewer.close("viewer_left");
        viewerScreen.hidden = true;
        hostsScreen.hidden = false;
        document.body.dataset.screen = "hosts";
        document.title = t("app.title");
        hostList.start();
        break;
      default:
        throw new Error(`unhandled route ${current.name}`);
    }
  }

  window.addEventListener("hashchange", route);
  // Leaving the page ends the session at once (bye, then close), so the host is free for
  // the next viewer instead of waiting for a timeout.
  window.addEventListener("pagehide", () => {
    viewer.close("viewer_left");
    hostList.stop();
  });
  // Back from the back/forward cache: the old session is gone, start again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) route();
  });

  applyLanguage();
  route();
}

main();

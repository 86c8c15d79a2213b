/**
 * Entry point: language, the sign-in state, and hash routing between the screens.
 *
 * The broker's session state decides what can show (core/auth.js screenFor): signed out
 * only the login, with a password only the second factor, while enrolling only the
 * enrollment; the host list, the viewer, the account and (for admins) the admin page only
 * after MFA. Routes are in core/route.js.
 *
 * For tests: body[data-screen] is the screen shown, body[data-session] the session state.
 */

import { screenFor } from "../core/auth.js";
import { getLanguage, otherLanguage, setLanguage, STORAGE_KEY, t } from "../core/i18n.js";
import { parseRoute } from "../core/route.js";
import { call, loadSession, setCsrf } from "./api.js";
import { createAccount } from "./account.js";
import { createConsole } from "./console.js";
import { createEnrollment } from "./enroll.js";
import { createHostList } from "./hosts.js";
import { createSignIn } from "./signin.js";
import { createViewer } from "./viewer.js";

const SCREENS = ["login", "mfa", "enroll", "hosts", "viewer", "account", "admin"];

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
  let session = { state: "anonymous" };

  const hostList = createHostList({
    list: document.getElementById("host-list"),
    message: document.getElementById("hosts-message"),
    updated: document.getElementById("hosts-updated"),
    onUnauthorized: () => refreshSession(),
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
    // クリアスクリーン: the sign-in pages ask for the second factor, then the host list opens.
    onReauth: () => {
      window.location.hash = "#/login";
    },
  });
  const hooks = { onSession: (next) => applySession(next) };
  const signIn = createSignIn(hooks);
  const enrollment = createEnrollment(hooks);
  const account = createAccount(hooks);
  const admin = createConsole(hooks);

  const langToggle = document.getElementById("lang-toggle");
  const nav = document.getElementById("app-nav");

  function renderNav() {
    const active = session.state === "active";
    nav.hidden = !active;
    document.getElementById("nav-admin").hidden = !(active && session.user?.role === "admin");
    document.getElementById("nav-user").textContent = active && session.user
      ? `${session.user.display_name}${session.user.organization ? `（${session.user.organization}）` : ""}`
      : "";
  }

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
    signIn.relabel();
    enrollment.relabel();
    renderNav();
    if (document.body.dataset.screen === "account") account.relabel();
    if (document.body.dataset.screen === "admin") admin.relabel();
  }

  langToggle.addEventListener("click", () => {
    saveLanguage(setLanguage(otherLanguage()));
    applyLanguage();
  });

  function show(screen) {
    for (const name of SCREENS) {
      document.getElementById(`screen-${name}`).hidden = name !== screen;
    }
    document.body.dataset.screen = screen;
  }

  function route() {
    const current = parseRoute(window.location.hash);
    const screen = screenFor(current, session);
    if (screen !== "viewer") viewer.close("viewer_left");
    if (screen !== "hosts") hostList.stop();
    show(screen);
    switch (screen) {
      case "login":
        signIn.showLoginScreen();
        break;
      case "mfa":
        signIn.showMfaScreen(session.methods);
        break;
      case "enroll":
        enrollment.show(current.token ?? null, session.state);
        break;
      case "hosts":
        document.title = t("app.title");
        hostList.start();
        break;
      case "viewer":
        viewer.open(current.hostId);
        break;
      case "account":
        account.show(session);
        break;
      case "admin":
        admin.show(current.page);
        break;
      default:
        throw new Error(`unhandled screen ${screen}`);
    }
  }

  function applySession(next, fromServer = false) {
    const previous = session.state;
    session = next && typeof next.state === "string" ? next : { state: "anonymous" };
    document.body.dataset.session = session.state;
    // A state change from a form's answer lacks the user (active) or the new pre-sign-in
    // CSRF token (signed out): ask the broker for the rest.
    if (!fromServer && (session.state === "anonymous" || (session.state === "active" && !session.user))) {
      if (session.state === "anonymous") setCsrf(null);
      refreshSession();
      return;
    }
    renderNav();
    if (previous !== session.state || session.state !== "active") route();
  }

  async function refreshSession() {
    applySession(await loadSession(), true);
  }

  document.getElementById("nav-logout").addEventListener("click", async () => {
    viewer.close("viewer_left");
    await call("POST", "/api/logout");
    window.location.hash = "#/";
    applySession({ state: "anonymous" });
  });

  window.addEventListener("hashchange", route);
  // Leaving the page ends the session at once (bye, then close), so the host is free for
  // the next viewer instead of waiting for a timeout.
  window.addEventListener("pagehide", () => {
    viewer.close("viewer_left");
    hostList.stop();
  });
  // Back from the back/forward cache: the old session is gone, start again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) refreshSession();
  });

  applyLanguage();
  refreshSession();
}

main();

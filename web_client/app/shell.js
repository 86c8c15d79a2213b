/**
 * What every page does alike (index.html, viewer.html, console.html): the language (the
 * saved choice, the switch, the static `data-i18n` text), the sign-in state, the header's
 * menu and logout, and hash routing.
 *
 * The broker's session state decides what can show (core/auth.js screenFor): signed out
 * only the login, with a password only the second factor, while enrolling only the
 * enrollment; the host list, the viewer, the account and (for admins) the console only
 * after MFA. A route whose screen lives on another page (core/route.js pageOf) is handed
 * to that page with the same hash, so a link to the viewer or the console opened while
 * signed out shows the sign-in here and then goes on.
 *
 * For tests: body[data-screen] is the screen shown, body[data-session] the session state.
 */

import { screenFor } from "../core/auth.js";
import { setClinicZone } from "../core/clinic_time.js";
import { getLanguage, otherLanguage, setLanguage, STORAGE_KEY, t } from "../core/i18n.js";
import { pageHref, pageOf, parseRoute } from "../core/route.js";
import { call, loadSession, setCsrf } from "./api.js";

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

/**
 * Start a page: call once, from its entry module, after its screens are built.
 *
 * @param {object} spec
 * @param {"index" | "viewer" | "console"} spec.page which page this is
 * @param {(screen: string, route: object, session: object) => void} spec.enter show `screen`
 *   (one of this page's; its `<section id="screen-NAME">` is shown already)
 * @param {(screen: string) => void} [spec.relabel] redraw the page's own text after a
 *   language switch
 * @param {() => void} [spec.leave] stop what the page runs (a viewer session, polls) before
 *   it goes away: logout, another page, the tab closing
 * @returns {{applySession: (session: object) => void, refreshSession: () => Promise<void>}}
 *   what screens call when the sign-in state changes (their `hooks.onSession`)
 */
export function startPage({ page, enter, relabel = () => {}, leave = () => {} }) {
  setLanguage(readSavedLanguage());
  let session = { state: "anonymous" };
  let leaving = false;

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
    renderNav();
    relabel(document.body.dataset.screen);
  }

  langToggle.addEventListener("click", () => {
    saveLanguage(setLanguage(otherLanguage()));
    applyLanguage();
  });

  function show(screen) {
    for (const section of document.querySelectorAll("section.screen")) {
      section.hidden = section.id !== `screen-${screen}`;
    }
    document.body.dataset.screen = screen;
  }

  function route() {
    if (leaving) return;
    const current = parseRoute(window.location.hash);
    const screen = screenFor(current, session);
    const owner = pageOf(screen);
    if (owner !== page) {
      // The screen lives on another page: go there, keeping the route (and its token).
      leaving = true;
      leave();
      window.location.replace(pageHref(owner, window.location.hash));
      return;
    }
    show(screen);
    enter(screen, current, session);
  }

  function applySession(next, fromServer = false) {
    const previous = session.state;
    session = next && typeof next.state === "string" ? next : { state: "anonymous" };
    document.body.dataset.session = session.state;
    // The clinic's zone comes with the signed-in user; every page shows times in it.
    setClinicZone(session.user?.time_zone);
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
    leave();
    await call("POST", "/api/logout");
    window.location.hash = "#/";
    applySession({ state: "anonymous" });
  });

  window.addEventListener("hashchange", route);
  // Leaving the page ends what it runs at once (a viewer says bye, then closes), so the
  // host is free for the next viewer instead of waiting for a timeout.
  window.addEventListener("pagehide", () => leave());
  // Back from the back/forward cache: the old session is gone, start again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      leaving = false;
      refreshSession();
    }
  });

  applyLanguage();
  refreshSession();
  return { applySession, refreshSession };
}

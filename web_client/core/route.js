/**
 * Hash routes of the client, and which page holds each screen. Pure: app/shell.js passes
 * location.hash in.
 *
 * `#/` host list, `#/host/<host_id>` viewer, `#/login`, `#/mfa`, `#/account`,
 * `#/admin/<page>` the admin console (one page per task, CONSOLE_PAGES; `#/admin` is the
 * first), `#/enroll/<token>` (an enrollment link: the token stays in the fragment, which browsers
 * never send to a server).
 *
 * One page per audience: index.html (sign-in, second factor, enrollment, account, host
 * list), viewer.html (the remote picture) and console.html (the admin console). The routes
 * are one namespace over all three: a page given a route whose screen lives on another
 * goes there with the same hash (`pageOf`, `pageHref`), so the links people already have
 * (`/#/enroll/TOKEN`, `/#/host/<id>`, `/#/admin/alerts`) keep working, and signing in on
 * index.html on the way to the viewer or the console ends there.
 */

import { isHostId } from "./protocol.js";

const SIMPLE = new Set(["login", "mfa", "account"]);
const TOKEN = /^[A-Za-z0-9_-]{20,128}$/;

/** The admin console's pages, in the order of its menu (one per line: each page adds one). */
export const CONSOLE_PAGES = Object.freeze([
  "dashboard",
  "users",
  "devices",
  "hosts",
  "grants",
  "requests",
  "audit",
  "alerts",
  "settings",
  "report",
]);

/**
 * @param {string} hash location.hash, with or without the leading "#"
 * @returns {{name: string, hostId?: string, token?: string, page?: string}} an unknown or malformed route
 *   (a host id the broker would refuse included) is the host list.
 */
export function parseRoute(hash) {
  const path = String(hash ?? "").replace(/^#/, "");
  const match = /^\/host\/([^/?#]+)\/?$/.exec(path);
  if (match) {
    let hostId;
    try {
      hostId = decodeURIComponent(match[1]);
    } catch {
      return { name: "hosts" };
    }
    if (isHostId(hostId)) return { name: "viewer", hostId };
    return { name: "hosts" };
  }
  const enroll = /^\/enroll\/([^/?#]+)\/?$/.exec(path);
  if (enroll && TOKEN.test(enroll[1])) return { name: "enroll", token: enroll[1] };
  const consolePath = /^\/admin(?:\/([a-z-]+))?\/?$/.exec(path);
  if (consolePath) {
    const page = consolePath[1] ?? CONSOLE_PAGES[0];
    return CONSOLE_PAGES.includes(page) ? { name: "admin", page } : { name: "admin", page: CONSOLE_PAGES[0] };
  }
  const simple = /^\/([a-z]+)\/?$/.exec(path);
  if (simple && SIMPLE.has(simple[1])) return { name: simple[1] };
  return { name: "hosts" };
}

/** The hash that opens the viewer on `hostId`. */
export function viewerHash(hostId) {
  return `#/host/${encodeURIComponent(hostId)}`;
}

export const HOSTS_HASH = "#/";

/** The client's pages, by name, as URLs relative to the one they are linked from. */
export const PAGE_URLS = Object.freeze({
  index: "./",
  viewer: "viewer.html",
  console: "console.html",
});

/**
 * The page that shows `screen` (core/auth.js screenFor).
 * @param {string} screen
 * @returns {"index" | "viewer" | "console"}
 */
export function pageOf(screen) {
  switch (screen) {
    case "viewer":
      return "viewer";
    case "admin":
      return "console";
    default:
      return "index";
  }
}

/** `page`'s URL carrying `hash` (with or without the "#"). */
export function pageHref(page, hash = "") {
  const fragment = String(hash ?? "").replace(/^#/, "");
  return `${PAGE_URLS[page]}${fragment ? `#${fragment}` : ""}`;
}

/** Where a link opens the viewer on `hostId`. */
export function viewerHref(hostId) {
  return pageHref("viewer", viewerHash(hostId));
}

/** Where a link opens console page `page` (a CONSOLE_PAGES entry). */
export function consoleHref(page = CONSOLE_PAGES[0]) {
  return pageHref("console", `#/admin/${page}`);
}

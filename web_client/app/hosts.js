/**
 * The host list: `GET /api/hosts` (same origin, session cookie) every 5 s while shown.
 *
 * Response: {"hosts":[{"host_id":"...","name":"...","busy":false}]}; 401 means not signed
 * in (the page then asks app/shell.js to re-check the session: `onUnauthorized`). The poll is
 * marked as background (X-Mamori-Background), so an open list does not keep an idle
 * session alive. Each host is a link to the viewer page (`viewer.html#/host/<host_id>`);
 * core/host_list.js reads the answer. The list is updated in place (keyed by
 * host id) so keyboard focus survives a refresh.
 *
 * Each entry also says what the caller's grants allow now (broker/api/hosts.py): control,
 * view only (閲覧のみ), or not now (outside the allowed hours; for a vendor, no approval yet).
 * A host that cannot be opened now is shown without a link; a vendor asks for approval right
 * there, with a short reason (POST /api/vendor-requests), and sees the request's state.
 *
 * For tests: body[data-hosts-state] is loading | ready | empty | unauthorized | error; each
 * host is `li.host-item[data-host-id][data-busy][data-mode][data-refusal][data-request]`
 * holding `a.host-link` (and, for a vendor who may ask, `form.host-request`).
 * Above the list, app/device_panel.js says whether this browser is an approved viewing
 * device.
 */

import { errorKey } from "../core/auth.js";
import { inClinicZone, setClinicZone } from "../core/clinic_time.js";
import { readHosts, readZone } from "../core/host_list.js";
import { t } from "../core/i18n.js";
import { viewerHref } from "../core/route.js";
import { call } from "./api.js";
import { createDevicePanel } from "./device_panel.js";
import { el } from "./kit.js";

export const REFRESH_MS = 5000;
const FETCH_TIMEOUT_MS = 4500;
/**
 * @param {{list: HTMLElement, message: HTMLElement, updated: HTMLElement,
 *   onUnauthorized?: () => void}} els
 */
export function createHostList(els) {
  let timer = null;
  let running = false;
  let inFlight = null;
  let state = "loading";
  let hosts = [];
  let updatedAt = null;
  // Whether this browser may open a viewer at all (app/device_panel.js).
  // Its state changes the badges ("register this browser first"), so they are redrawn.
  const devicePanel = createDevicePanel(() => {
    if (running) renderList();
  });

  function setState(next) {
    state = next;
    document.body.dataset.hostsState = next;
  }

  function renderMessage() {
    switch (state) {
      case "loading":
        els.message.textContent = t("hosts.loading");
        break;
      case "ready":
        els.message.textContent = "";
        break;
      case "empty":
        els.message.textContent = t("hosts.empty");
        break;
      case "no_grant":
        els.message.textContent = t("hosts.noGrant");
        break;
      case "unauthorized":
        els.message.textContent = t("hosts.unauthorized");
        break;
      case "error":
        els.message.textContent = t("hosts.error");
        break;
      default:
        throw new Error(`unhandled host list state ${state}`);
    }
    const fresh = state === "ready" || state === "empty" || state === "no_grant";
    els.updated.textContent = fresh && updatedAt
      ? t("hosts.updated", {
          time: updatedAt.toLocaleTimeString(document.documentElement.lang, inClinicZone()),
        })
      : "";
  }

  function clock(date) {
    return date.toLocaleTimeString(document.documentElement.lang, inClinicZone({ hour: "2-digit", minute: "2-digit" }));
  }

  /** What the badge says: busy, not now (and why), view only, or available (until when). */
  function badgeText(host) {
    if (host.refusal === "outside_window") return t("hosts.outsideWindow");
    if (host.refusal === "vendor_not_approved") {
      return host.request?.state === "pending" ? t("hosts.requestPending") : t("hosts.needApproval");
    }
    if (host.busy) return t("hosts.busy");
    // Open to this person, but this browser cannot open anything until it is an approved
    // viewing device (the device panel above says how): not "available".
    const device = document.body.dataset.deviceState;
    if (device && device !== "approved" && device !== "checking") return t("hosts.deviceFirst");
    const parts = [host.mode === "view" ? t("hosts.viewOnly") : t("hosts.online")];
    if (host.request?.state === "approved") {
      parts.push(t("hosts.approvedUntil", { time: clock(host.request.expiresAt) }));
    }
    if (host.closesAt) parts.push(t("hosts.until", { time: clock(host.closesAt) }));
    return parts.join("・");
  }

  function requestHint(host) {
    switch (host.request?.state) {
      case "denied":
        return t("hosts.requestDenied");
      case "expired":
        return t("hosts.requestExpired");
      case "used":
        return t("hosts.requestUsed");
      default:
        return "";
    }
  }

  function requestForm(li) {
    let form = li.querySelector(".host-request");
    if (form) return form;
    form = el("form", "host-request form");
    form.noValidate = true;
    const label = el("label");
    const input = el("input", "host-request-reason");
    input.maxLength = 200;
    input.id = `host-request-${li.dataset.hostId}`;
    label.htmlFor = input.id;
    const submit = el("button", "button");
    submit.type = "submit";
    const note = el("p", "host-request-note hint");
    note.setAttribute("role", "status");
    form.append(label, input, submit, note);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = input.value.trim();
      if (!reason) {
        note.textContent = t("hosts.requestNeedReason");
        return;
      }
      const result = await call("POST", "/api/vendor-requests", { host_id: li.dataset.hostId, reason });
      if (result.status === 201) {
        input.value = "";
        note.textContent = t("hosts.requestSent");
        refresh();
      } else {
        note.textContent = t(errorKey(result.status, result.body));
      }
    });
    li.append(form);
    return form;
  }

  function fillItem(li, host) {
    li.dataset.busy = String(host.busy);
    li.dataset.mode = host.mode ?? "none";
    li.dataset.refusal = host.refusal ?? "none";
    li.dataset.request = host.request?.state ?? "none";
    const open = host.refusal === null;
    const link = li.querySelector(".host-link");
    if (open) {
      link.href = viewerHref(host.hostId);
      link.removeAttribute("aria-disabled");
    } else {
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
    }
    const state = badgeText(host);
    link.setAttribute("aria-label", open
      ? `${t("hosts.openLabel", { name: host.name })} (${host.busy ? t("hosts.busyHint") : state})`
      : `${host.name} (${host.refusal === "outside_window" ? t("hosts.outsideWindowHint") : state})`);
    li.querySelector(".host-name").textContent = host.name;
    li.querySelector(".host-id").textContent = host.hostId;
    li.querySelector(".badge").textContent = state;
    li.querySelector(".host-action").textContent = open ? t("hosts.open") : "";
    // A vendor without an approval asks for one here (unless a request is waiting already).
    const mayAsk = host.refusal === "vendor_not_approved" && host.request?.state !== "pending";
    const existing = li.querySelector(".host-request");
    if (mayAsk || existing) {
      const form = requestForm(li);
      form.hidden = !mayAsk;
      form.querySelector("label").textContent = t("hosts.requestReason");
      form.querySelector("button").textContent = t("hosts.requestSubmit");
      const hint = requestHint(host);
      const note = form.querySelector(".host-request-note");
      if (hint && !note.textContent) note.textContent = hint;
    }
  }

  function newItem(hostId) {
    const li = el("li", "host-item");
    li.dataset.hostId = hostId;
    const link = el("a", "host-link");
    const text = el("span", "host-text");
    text.append(el("span", "host-name"), el("span", "host-id"));
    const badge = el("span", "badge");
    const action = el("span", "host-action");
    action.setAttribute("aria-hidden", "true");
    link.append(text, badge, action);
    li.append(link);
    return li;
  }

  function renderList() {
    const existing = new Map();
    for (const li of els.list.querySelectorAll(":scope > li.host-item")) {
      existing.set(li.dataset.hostId, li);
    }
    const wanted = hosts.map((host) => {
      const li = existing.get(host.hostId) ?? newItem(host.hostId);
      existing.delete(host.hostId);
      fillItem(li, host);
      return li;
    });
    for (const li of existing.values()) li.remove();
    // Re-append only when the order changed: moving a focused element would blur it.
    const current = Array.from(els.list.children);
    if (current.length !== wanted.length || wanted.some((li, i) => current[i] !== li)) {
      els.list.replaceChildren(...wanted);
    }
  }

  function render() {
    renderList();
    renderMessage();
  }

  async function refresh() {
    if (inFlight) return;
    const controller = new AbortController();
    inFlight = controller;
    const timeout = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch("/api/hosts", {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json", "X-Mamori-Background": "1" },
        signal: controller.signal,
      });
      if (!running) return;
      if (response.status === 401) {
        hosts = [];
        setState("unauthorized");
        els.onUnauthorized?.();
      } else if (!response.ok) {
        setState("error");
      } else {
        const body = await response.json();
        const list = readHosts(body);
        // Times are shown in the clinic's zone (DESIGN.md); the host list names it too.
        setClinicZone(readZone(body));
        if (list === null) {
          setState("error");
        } else {
          hosts = list;
          updatedAt = new Date();
          // An empty list for someone no grant names is the admin's to fix, not the agent's.
          setState(list.length > 0 ? "ready" : body.has_grant === false ? "no_grant" : "empty");
        }
      }
    } catch {
      if (running) setState("error");
    } finally {
      clearTimeout(timeout);
      inFlight = null;
    }
    if (running) render();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, REFRESH_MS);
  }

  async function tick() {
    if (!running) return;
    // A hidden tab does not poll; it refreshes as soon as it is shown again.
    if (document.visibilityState !== "hidden") await refresh();
    if (running) schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (running && document.visibilityState === "visible") {
      refresh();
      schedule();
    }
  });

  return {
    /** Show and poll. */
    start() {
      if (running) return;
      running = true;
      if (hosts.length === 0 && state !== "unauthorized") setState("loading");
      render();
      tick();
      devicePanel.start();
    },
    /** Stop polling (the viewer is open or the page is going away). */
    stop() {
      running = false;
      clearTimeout(timer);
      timer = null;
      if (inFlight) inFlight.abort();
      devicePanel.stop();
    },
    /** Redraw every string in the current language. */
    relabel() {
      render();
      devicePanel.relabel();
    },
  };
}

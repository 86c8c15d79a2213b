/**
 * The console's vendor-requests page: requests waiting for a decision (approve, or deny after a
 * confirmation in the page) and the recent ones with their state
 * (GET /api/admin/vendor-requests, POST .../{id}/approve|deny). The menu link carries the
 * number waiting, refreshed every 15 s while the console is open.
 *
 * For tests: waiting requests are `li[data-request-id]` in #requests-pending.
 */

import { errorKey } from "../core/auth.js";
import { inClinicZone, setClinicZone } from "../core/clinic_time.js";
import { getLanguage, t } from "../core/i18n.js";
import { call } from "./api.js";

const POLL_MS = 15_000;
const TICK_MS = 2_000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, onClick, className = "button button-quiet") {
  const b = el("button", className, label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

export function createRequestsPage(hooks) {
  const message = document.getElementById("requests-message");
  const pendingList = document.getElementById("requests-pending");
  const none = document.getElementById("requests-none");
  const rows = document.getElementById("requests-rows");
  let data = null;
  let confirming = null;
  let messageKey = null;
  let messageParams = {};
  let shown = false;
  let loadedAt = 0;

  function say(key, kind = "error", params = {}) {
    messageKey = key;
    messageParams = params;
    message.textContent = key ? t(key, params) : "";
    message.dataset.kind = kind;
  }

  function check(result, quiet = false) {
    if (result.status === 401) {
      if (!quiet) hooks.onSession({ state: "anonymous" });
      return false;
    }
    if (result.status >= 300 || result.status === 0) {
      if (!quiet) say(errorKey(result.status, result.body));
      return false;
    }
    return true;
  }

  function time(value) {
    return new Date(value).toLocaleString(
      getLanguage(),
      inClinicZone({ month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }),
    );
  }

  function stateText(r) {
    return t(`requestState.${r.state}`, { time: time(r.expires_at) });
  }

  function pendingItem(r) {
    const li = el("li", "item request-item");
    li.dataset.requestId = String(r.id);
    const text = el("div", "request-text");
    text.append(
      el("strong", "", t("requests.item", { vendor: `${r.display_name}（${r.username}）`, host: r.host_name || r.host_id, time: time(r.created_at) })),
      el("p", "request-reason", r.reason),
    );
    const actions = el("div", "request-actions");
    if (confirming === r.id) {
      actions.append(
        el("span", "confirm-text", t("requests.confirmDeny")),
        button(t("requests.confirmYes"), () => decide(r.id, "deny"), "button button-danger"),
        button(t("requests.confirmNo"), () => {
          confirming = null;
          render();
        }),
      );
    } else {
      actions.append(
        button(t("requests.approve"), () => decide(r.id, "approve"), "button"),
        button(t("requests.deny"), () => {
          confirming = r.id;
          render();
        }),
      );
    }
    li.append(text, actions);
    return li;
  }

  function recentRow(r) {
    const tr = el("tr");
    tr.dataset.requestId = String(r.id);
    tr.dataset.state = r.state;
    tr.append(
      el("td", "", time(r.created_at)),
      el("td", "", `${r.display_name}（${r.username}）`),
      el("td", "", r.host_name || r.host_id),
      el("td", "", r.reason),
      el("td", "", stateText(r)),
    );
    return tr;
  }

  function render() {
    if (!data) return;
    const pending = data.requests.filter((r) => r.state === "pending");
    pendingList.replaceChildren(...pending.map(pendingItem));
    none.hidden = pending.length > 0;
    rows.replaceChildren(...data.requests.map(recentRow));
  }

  async function decide(id, verb) {
    confirming = null;
    const result = await call("POST", `/api/admin/vendor-requests/${id}/${verb}`);
    if (check(result)) {
      if (verb === "approve") say("requests.approved", "ok", { time: time(result.body.expires_at) });
      else say("requests.denied", "ok");
    }
    await load();
  }

  async function load(quiet = false) {
    loadedAt = Date.now();
    const result = await call("GET", "/api/admin/vendor-requests", undefined, { background: quiet });
    if (!check(result, quiet)) return;
    data = result.body;
    setClinicZone(data?.time_zone);
    hooks.badge("requests", data.pending);
    if (shown) render();
  }

  // The badge is worth having on every console page: poll while the console is shown (soon
  // after it opens, then every POLL_MS), as a background call that keeps no session alive.
  setInterval(() => {
    const due = Date.now() - loadedAt >= POLL_MS;
    if (due && document.body.dataset.screen === "admin" && document.visibilityState !== "hidden") load(true);
  }, TICK_MS);

  return {
    show() {
      shown = true;
      confirming = null;
      say(null);
      load();
    },
    relabel() {
      if (messageKey) say(messageKey, message.dataset.kind, messageParams);
      render();
    },
  };
}

/**
 * The console's vendor-requests page: requests waiting for a decision (approve, or deny after a
 * confirmation in the page) and the recent ones with their state
 * (GET /api/admin/vendor-requests, POST .../{id}/approve|deny). The menu link carries the
 * number waiting, refreshed every 15 s while the console is open.
 *
 * For tests: waiting requests are `li[data-request-id]` in #requests-pending.
 */

import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { asking, button, cell, clinicTime, confirmed, consoleShown, el, messageLine } from "./console_kit.js";

const POLL_MS = 15_000;
const TICK_MS = 2_000;

export function createRequestsPage(hooks) {
  const message = messageLine(document.getElementById("requests-message"), hooks);
  const pendingList = document.getElementById("requests-pending");
  const none = document.getElementById("requests-none");
  const rows = document.getElementById("requests-rows");
  let data = null;
  let shown = false;
  let loadedAt = 0;

  function time(value) {
    return clinicTime(value, { zone: data?.time_zone, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
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
    actions.append(
      button(t("requests.approve"), () => decide(r.id, "approve"), "button"),
      confirmed("requests.deny", "requests.confirmDeny", {}, () => decide(r.id, "deny"), {
        yesKey: "requests.confirmYes",
        noKey: "requests.confirmNo",
      }),
    );
    li.append(text, actions);
    return li;
  }

  function recentRow(r) {
    const tr = el("tr");
    tr.dataset.requestId = String(r.id);
    tr.dataset.state = r.state;
    tr.append(
      cell(time(r.created_at)),
      cell(`${r.display_name}（${r.username}）`),
      cell(r.host_name || r.host_id),
      cell(r.reason),
      cell(stateText(r)),
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
    const result = await call("POST", `/api/admin/vendor-requests/${id}/${verb}`);
    if (verb === "approve") message.check(result, "requests.approved", { time: time(result.body?.expires_at) });
    else message.check(result, "requests.denied");
    await load();
  }

  async function load(quiet = false) {
    loadedAt = Date.now();
    const result = await call("GET", "/api/admin/vendor-requests", undefined, { background: quiet });
    // A background poll that fails says nothing: the next one, or the admin's next step, will.
    if (quiet ? result.status !== 200 : !message.check(result)) return;
    data = result.body;
    hooks.badge("requests", data.pending);
    // A poll keeps a denial being confirmed on screen; it shows with the next render.
    if (shown && !(quiet && asking(pendingList))) render();
  }

  // The badge is worth having on every console page: poll while the console is shown (soon
  // after it opens, then every POLL_MS), as a background call that keeps no session alive.
  setInterval(() => {
    const due = Date.now() - loadedAt >= POLL_MS;
    if (due && consoleShown() && document.visibilityState !== "hidden") load(true);
  }, TICK_MS);

  return {
    show() {
      shown = true;
      message.say(null);
      load();
    },
    relabel() {
      message.relabel();
      render();
    },
  };
}

/**
 * The console's grants page: who may open which computer, view-only or with control, in which
 * weekly hours (GET/POST/DELETE /api/admin/grants), and the clinic's time zone those hours are
 * read in (GET/PUT /api/admin/time-zone). Deleting asks for a confirmation in the page.
 *
 * For tests: each grant is `tr[data-grant-id]` in #grants-rows; the window editor's rows are
 * `.window-row` with `input[data-day]` checkboxes and `input.window-start` / `.window-end`.
 */

import { windowLabel, windowProblem } from "../core/grants.js";
import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { cell, clinicTime, confirmed, el, messageLine } from "./console_kit.js";
import { readWindowRows, relabelWindowRow, windowRow } from "./window_rows.js";

const ROLES = ["admin", "doctor", "staff", "vendor"];
// A new grant's first window: weekday evenings, when after-hours work is done.
const EVENINGS = { days: [0, 1, 2, 3, 4], start: "18:00", end: "23:00" };

export function createGrantsPage(hooks) {
  const message = messageLine(document.getElementById("grants-message"), hooks);
  const rows = document.getElementById("grants-rows");
  const none = document.getElementById("grants-none");
  const form = document.getElementById("grants-form");
  const subject = document.getElementById("grants-subject");
  const host = document.getElementById("grants-host");
  const access = document.getElementById("grants-access");
  const when = document.getElementById("grants-when");
  const windowsBox = document.getElementById("grants-windows-box");
  const windowsList = document.getElementById("grants-windows");
  const windowsHint = document.getElementById("grants-windows-hint");
  const zoneForm = document.getElementById("grants-zone-form");
  const zone = document.getElementById("grants-zone");
  let page = null;
  let zones = null;

  function date(value) {
    return clinicTime(value, { zone: page?.time_zone, year: "numeric", month: "numeric", day: "numeric" });
  }

  // ---- the list ----------------------------------------------------------------------

  function grantRow(grant) {
    const tr = el("tr");
    tr.dataset.grantId = String(grant.id);
    const who = grant.user_id !== null ? grant.user_name : t("grants.roleSubject", { role: t(`role.${grant.role}`) });
    const where = grant.host_id !== null ? `${grant.host_name}（${grant.host_id}）` : t("grants.allHosts");
    const what = t(grant.access === "control" ? "grants.control" : "grants.view");
    const hours = grant.windows.length ? grant.windows.map((w) => windowLabel(w, t)).join(" / ") : t("grants.anyTime");
    const by = grant.created_by ? t("grants.byAdmin", { name: grant.created_by, date: date(grant.created_at) }) : t("grants.byDefault");
    const actions = cell();
    actions.append(
      confirmed("grants.delete", "grants.confirmDelete", {}, () => remove(grant.id), {
        yesKey: "grants.confirmYes",
        noKey: "grants.confirmNo",
      }),
    );
    tr.append(cell(who), cell(where), cell(what), cell(hours), cell(by), actions);
    return tr;
  }

  function render() {
    if (!page) return;
    rows.replaceChildren(...page.grants.map(grantRow));
    none.hidden = page.grants.length > 0;
    windowsHint.textContent = t("grants.windowsHint", { zone: page.time_zone });
    fillChoices();
  }

  async function remove(id) {
    const result = await call("DELETE", `/api/admin/grants/${id}`);
    if (message.check(result, "grants.deleted")) await load();
    else render();
  }

  // ---- the form ----------------------------------------------------------------------

  function option(value, label, selected) {
    const o = el("option", "", label);
    o.value = value;
    o.selected = selected;
    return o;
  }

  function fillChoices() {
    const chosen = subject.value;
    const roles = el("optgroup");
    roles.label = t("grants.rolesGroup");
    roles.append(...ROLES.map((r) => option(`role:${r}`, t("grants.roleSubject", { role: t(`role.${r}`) }), chosen === `role:${r}`)));
    const people = el("optgroup");
    people.label = t("grants.usersGroup");
    people.append(
      ...page.users
        .filter((u) => !u.disabled)
        .map((u) => option(`user:${u.id}`, `${u.display_name}（${u.username}・${t(`role.${u.role}`)}）`, chosen === `user:${u.id}`)),
    );
    subject.replaceChildren(roles, people);
    if (!chosen) subject.value = "role:staff";
    const chosenHost = host.value;
    host.replaceChildren(
      option("", t("grants.allHosts"), chosenHost === ""),
      ...page.hosts.map((h) => option(h.host_id, `${h.name}（${h.host_id}）`, chosenHost === h.host_id)),
    );
    windowsBox.hidden = when.value !== "windows";
    for (const row of windowsList.querySelectorAll(".window-row")) relabelWindowRow(row);
  }

  function readWindows() {
    const windows = readWindowRows(windowsList);
    if (windows.length === 0) return { problem: "grants.needWindow" };
    for (const w of windows) {
      const problem = windowProblem(w);
      if (problem) return { problem };
    }
    return { windows };
  }

  when.addEventListener("change", () => {
    windowsBox.hidden = when.value !== "windows";
    if (when.value === "windows" && !windowsList.querySelector(".window-row")) windowsList.append(windowRow(EVENINGS));
  });

  document.getElementById("grants-add-window").addEventListener("click", () => {
    windowsList.append(windowRow());
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, value] = subject.value.split(":");
    const body = { access: access.value, host_id: host.value || null, windows: [] };
    if (kind === "user") body.user_id = Number(value);
    else body.role = value;
    if (when.value === "windows") {
      const read = readWindows();
      if (read.problem) {
        message.say(read.problem);
        return;
      }
      body.windows = read.windows;
    }
    const result = await call("POST", "/api/admin/grants", body);
    if (message.check(result, "grants.added")) await load();
  });

  zoneForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("PUT", "/api/admin/time-zone", { time_zone: zone.value });
    if (message.check(result, "grants.zoneSaved")) await load();
  });

  async function loadZones() {
    const result = await call("GET", "/api/admin/time-zone");
    if (!message.check(result)) return;
    zones = result.body.zones;
    zone.replaceChildren(...zones.map((name) => option(name, name, name === result.body.time_zone)));
  }

  async function load() {
    const result = await call("GET", "/api/admin/grants");
    if (!message.check(result)) return;
    page = result.body;
    render();
    if (zones === null) await loadZones();
    else zone.value = page.time_zone;
  }

  return {
    show() {
      message.say(null);
      if (!windowsList.querySelector(".window-row")) windowsList.append(windowRow(EVENINGS));
      load();
    },
    relabel() {
      message.relabel();
      render();
    },
  };
}

/**
 * The console's users page: everyone in the clinic with role, factors and state; invite (one-time
 * link), change role, disable/enable, reset factors (new link); the audit trail. (Clinic PCs
 * and their certificates: console_hosts.js.) The broker scopes all of it to the admin's own organization.
 */

import { errorKey } from "../core/auth.js";
import { t } from "../core/i18n.js";
import { call } from "./api.js";

const ROLES = ["admin", "doctor", "staff", "vendor"];
const CLINIC_TIME_ZONE = "Asia/Tokyo";

function cell(text) {
  const td = document.createElement("td");
  if (text !== undefined) td.textContent = text;
  return td;
}

function button(label, onClick, className = "button button-quiet") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

export function createUsersPage(hooks) {
  const message = document.getElementById("admin-message");
  const rows = document.getElementById("admin-users");
  const linkBox = document.getElementById("admin-link");
  const linkUrl = document.getElementById("admin-link-url");
  const audit = document.getElementById("admin-audit");
  const invite = document.getElementById("admin-invite-form");
  let messageKey = null;

  function say(key, kind = "error") {
    messageKey = key;
    message.textContent = key ? t(key) : "";
    message.dataset.kind = kind;
  }

  function check(result, okKey = null) {
    if (result.status === 401) {
      hooks.onSession({ state: "anonymous" });
      return false;
    }
    if (result.status >= 300 || result.status === 0) {
      say(errorKey(result.status, result.body));
      return false;
    }
    say(okKey, "ok");
    return true;
  }

  function showLink(url) {
    linkUrl.textContent = url;
    linkBox.hidden = false;
  }

  function userRow(user) {
    const tr = document.createElement("tr");
    tr.dataset.userId = String(user.id);
    tr.dataset.username = user.username;
    const name = cell(`${user.display_name}（${user.username}）${user.disabled ? ` — ${t("admin.disabled")}` : ""}`);
    const roleCell = cell();
    const select = document.createElement("select");
    select.setAttribute("aria-label", t("admin.role"));
    for (const role of ROLES) {
      const option = document.createElement("option");
      option.value = role;
      option.textContent = t(`role.${role}`);
      option.selected = role === user.role;
      select.append(option);
    }
    select.addEventListener("change", async () => {
      if (check(await call("PATCH", `/api/admin/users/${user.id}`, { role: select.value }), "admin.saved")) load();
      else load();
    });
    roleCell.append(select);
    const factors = [];
    if (user.passkeys) factors.push(t("admin.passkeys", { count: user.passkeys }));
    if (user.totp) factors.push(t("admin.totp"));
    const factorCell = cell(factors.length ? factors.join("・") : t("admin.notEnrolled"));
    const actions = cell();
    actions.append(
      button(user.disabled ? t("admin.enable") : t("admin.disable"), async () => {
        if (check(await call("PATCH", `/api/admin/users/${user.id}`, { disabled: !user.disabled }), "admin.saved")) load();
      }),
      button(t("admin.reset"), async () => {
        const result = await call("POST", `/api/admin/users/${user.id}/reset-factors`);
        if (check(result, "admin.resetDone")) {
          showLink(result.body.enrollment_url);
          load();
        }
      }),
    );
    tr.append(name, roleCell, factorCell, actions);
    return tr;
  }

  async function load() {
    const users = await call("GET", "/api/admin/users");
    if (!check(users, messageKey)) return;
    rows.replaceChildren(...users.body.map(userRow));
    const events = await call("GET", "/api/admin/audit");
    if (check(events, messageKey)) {
      audit.replaceChildren(
        ...events.body.map((e) => {
          const li = document.createElement("li");
          const at = new Date(e.at).toLocaleString(document.documentElement.lang, { timeZone: CLINIC_TIME_ZONE });
          li.textContent = `${at} ${e.actor || "—"} ${e.event} ${e.outcome} ${e.source_address} ${e.detail}`;
          return li;
        }),
      );
    }
  }

  invite.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("POST", "/api/admin/users", {
      username: document.getElementById("invite-username").value.trim(),
      display_name: document.getElementById("invite-display").value.trim(),
      role: document.getElementById("invite-role").value,
    });
    if (check(result, "admin.invited")) {
      invite.reset();
      showLink(result.body.enrollment_url);
      load();
    }
  });

  return {
    show() {
      linkBox.hidden = true;
      say(null);
      load();
    },
    relabel() {
      load();
    },
  };
}

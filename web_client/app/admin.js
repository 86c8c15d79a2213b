/**
 * The console's users page: everyone in the clinic with role, factors and state; invite (one-time
 * link), change role, disable/enable, reset factors (new link); the agent token. (The audit
 * trail has its own page, console_audit.js.) The broker scopes all of it to the admin's own
 * organization.
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
  const agentState = document.getElementById("admin-agent-state");
  const agentToken = document.getElementById("admin-agent-token");
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
    const token = await call("GET", "/api/admin/agent-token");
    if (check(token, messageKey)) {
      agentState.textContent = token.body.exists
        ? t("admin.agentSince", {
            time: new Date(token.body.created_at).toLocaleString(document.documentElement.lang, {
              timeZone: CLINIC_TIME_ZONE,
            }),
          })
        : t("admin.agentNone");
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

  document.getElementById("admin-agent-rotate").addEventListener("click", async () => {
    const result = await call("POST", "/api/admin/agent-token");
    if (check(result, "admin.agentRotated")) {
      agentToken.textContent = result.body.token;
      agentToken.hidden = false;
      load();
    }
  });

  return {
    show() {
      linkBox.hidden = true;
      agentToken.hidden = true;
      agentToken.textContent = "";
      say(null);
      load();
    },
    relabel() {
      load();
    },
  };
}

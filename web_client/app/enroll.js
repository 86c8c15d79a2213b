/**
 * First enrollment from a one-time link (#/enroll/<token>): greet the person, set a
 * password, enroll a second factor (passkey or authenticator app), show the ten recovery
 * codes once, then continue to the host list.
 *
 * For tests: #screen-enroll[data-step] is password | factor | codes | invalid.
 */

import { errorKey, formatRecoveryCodes, passwordHint } from "../core/auth.js";
import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { mountFactorChooser } from "./factors.js";
import { el, messageLine } from "./kit.js";
import { attachCodeTools } from "./code_tools.js";

export function createEnrollment(hooks) {
  const screen = document.getElementById("screen-enroll");
  const greeting = document.getElementById("enroll-greeting");
  const form = document.getElementById("enroll-password-form");
  const hint = document.getElementById("enroll-password-hint");
  const factor = document.getElementById("enroll-factor");
  const codesList = document.getElementById("enroll-code-list");
  const codeTools = attachCodeTools(codesList);
  const message = messageLine(document.getElementById("enroll-message"), hooks);
  const say = message.say;
  let token = null;
  let info = null;
  let pendingSession = null;

  function step(name) {
    screen.dataset.step = name;
    for (const part of screen.querySelectorAll(".enroll-step")) {
      part.hidden = part.dataset.step !== name;
    }
  }

  function greet() {
    greeting.textContent = info
      ? t("enroll.greeting", { name: info.display_name, org: info.organization, user: info.username })
      : "";
  }

  form.elements.password.addEventListener("input", () => {
    const key = passwordHint(form.elements.password.value);
    hint.textContent = key ? t(key) : t("password.ok");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(null);
    const password = form.elements.password.value;
    if (password !== form.elements.password2.value) {
      say("enroll.mismatch");
      return;
    }
    const result = await call("POST", "/api/enrollment", { token, password });
    if (result.status !== 200) {
      say(errorKey(result.status, result.body));
      return;
    }
    form.reset();
    token = null;
    startFactor();
  });

  function startFactor() {
    step("factor");
    mountFactorChooser(factor, (body) => {
      const codes = formatRecoveryCodes(body.recovery_codes);
      codesList.replaceChildren(...codes.map((code) => el("li", "", code)));
      pendingSession = body;
      step("codes");
    });
  }

  document.getElementById("enroll-done").addEventListener("click", () => {
    codesList.replaceChildren();
    window.location.hash = "#/";
    hooks.onSession(pendingSession ?? { state: "active" });
  });

  return {
    /** Open a link (token from the fragment), or continue an enrollment in progress. */
    async show(linkToken, sessionState) {
      say(null);
      if (sessionState === "enroll") {
        if (screen.dataset.step !== "codes") startFactor();
        return;
      }
      if (!linkToken) {
        step("invalid");
        say("api.link_invalid");
        return;
      }
      token = linkToken;
      const result = await call("POST", "/api/enrollment/inspect", { token });
      if (result.status !== 200) {
        info = null;
        greet();
        step("invalid");
        say(errorKey(result.status, result.body));
        return;
      }
      info = result.body;
      greet();
      step("password");
      form.elements.password.focus();
    },
    relabel() {
      codeTools.relabel();
      greet();
      message.relabel();
    },
  };
}

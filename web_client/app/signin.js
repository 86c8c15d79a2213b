/**
 * The sign-in screens: password, then a second factor (passkey, authenticator app code, or
 * a recovery code). Every failure shows the broker's generic message; nothing here tells
 * whether an account exists.
 *
 * For tests: #login-message and #mfa-message hold the last error; body[data-mfa-methods]
 * lists the offered methods.
 */

import { describeError } from "../core/auth.js";
import { credentialToJSON, requestOptionsFromJSON } from "../core/webauthn.js";
import { call } from "./api.js";
import { messageLine } from "./kit.js";

// A sign-in link may name the clinic (/?clinic=CODE). Not remembered in the browser: on a
// shared PC the next person's sign-in would carry the last one's clinic.
function clinicFromLink() {
  return (new URLSearchParams(location.search).get("clinic") ?? "").slice(0, 32);
}

/**
 * @param {{onSession: (session: object) => void}} hooks onSession gets each new state
 */
export function createSignIn(hooks) {
  const loginForm = document.getElementById("login-form");
  loginForm.elements.clinic.value = clinicFromLink();
  const loginMessage = messageLine(document.getElementById("login-message"), hooks);
  const mfaMessage = messageLine(document.getElementById("mfa-message"), hooks);
  const showLogin = loginMessage.say;
  const showMfa = mfaMessage.say;
  const totpForm = document.getElementById("mfa-totp-form");
  const recoveryForm = document.getElementById("mfa-recovery-form");
  const passkeyBox = document.getElementById("mfa-passkey");
  const passkeyButton = document.getElementById("mfa-passkey-button");
  const recoveryBox = document.getElementById("mfa-recovery");
  async function busy(form, work) {
    const buttons = form.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    try {
      await work();
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  loginForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(loginForm, async () => {
      showLogin(null);
      const username = loginForm.elements.username.value.trim();
      const password = loginForm.elements.password.value;
      if (!username || !password) {
        showLogin("login.missing");
        return;
      }
      const clinic = loginForm.elements.clinic.value.trim();
      const result = await call("POST", "/api/login", clinic ? { username, password, clinic } : { username, password });
      loginForm.elements.password.value = "";
      if (result.status !== 200) {
        const { key, params } = describeError(result.status, result.body);
        showLogin(key, "error", params);
        return;
      }
      hooks.onSession(result.body);
    });
  });

  async function finish(result) {
    if (result.status === 200) {
      hooks.onSession(result.body);
      return;
    }
    const { key, params } = describeError(result.status, result.body);
    showMfa(key, "error", params);
    if (result.status === 429 || result.body?.error === "not_signed_in") {
      // Locked (said at once, with how long), or the 5-minute window closed: start again
      // from the password.
      hooks.onSession({ state: "anonymous" });
      showLogin(key, "error", params);
    }
  }

  totpForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(totpForm, async () => {
      showMfa(null);
      const code = totpForm.elements.code.value.replace(/\s/g, "");
      totpForm.elements.code.value = "";
      await finish(await call("POST", "/api/login/totp", { code }));
    });
  });

  recoveryForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(recoveryForm, async () => {
      showMfa(null);
      const code = recoveryForm.elements.code.value;
      recoveryForm.elements.code.value = "";
      await finish(await call("POST", "/api/login/recovery", { code }));
    });
  });

  passkeyButton.addEventListener("click", async () => {
    showMfa(null);
    passkeyButton.disabled = true;
    try {
      const options = await call("POST", "/api/login/passkey/options");
      if (options.status !== 200) {
        await finish(options);
        return;
      }
      let credential;
      try {
        credential = await navigator.credentials.get({
          publicKey: requestOptionsFromJSON(options.body),
        });
      } catch {
        showMfa("passkey.cancelled");
        return;
      }
      await finish(await call("POST", "/api/login/passkey", { credential: credentialToJSON(credential) }));
    } finally {
      passkeyButton.disabled = false;
    }
  });

  document.getElementById("mfa-cancel").addEventListener("click", async () => {
    await call("POST", "/api/logout");
    hooks.onSession({ state: "anonymous" });
  });

  return {
    /** Show the password form. */
    showLoginScreen() {
      loginForm.elements.username.focus();
    },
    /** Show the second-factor choices the broker offers (passkey first: preferred). */
    showMfaScreen(methods) {
      const offered = Array.isArray(methods) ? methods : [];
      document.body.dataset.mfaMethods = offered.join(" ");
      passkeyBox.hidden = !offered.includes("passkey");
      totpForm.hidden = !offered.includes("totp");
      recoveryBox.hidden = !offered.includes("recovery");
      if (!totpForm.hidden) totpForm.elements.code.focus();
    },
    relabel() {
      loginMessage.relabel();
      mfaMessage.relabel();
    },
  };
}

/**
 * What every page's screens build with: elements with text (never HTML), buttons, table
 * cells, a form's message line that turns an API answer into words, and times as the clinic
 * reads them. The console's pages take these through app/console_kit.js.
 */

import { inClinicZone, setClinicZone } from "../core/clinic_time.js";
import { describeError } from "../core/auth.js";
import { t } from "../core/i18n.js";

// Times are shown in the clinic's zone (DESIGN.md); the broker stores UTC.

/** `<tag class="className">text</tag>`; text is set as text, so nothing in it is markup. */
export function el(tag, className = "", text = undefined) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function cell(text) {
  return el("td", "", text);
}

export function button(label, onClick, className = "button button-quiet") {
  const b = el("button", className, label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/**
 * A time as the clinic reads it (its zone, the page's language). `none` stands for no time
 * at all; further options are Intl's (e.g. `{month: "numeric", day: "numeric"}`).
 * @param {string | null | undefined} iso
 * @param {{zone?: string, none?: string} & Intl.DateTimeFormatOptions} [options]
 */
export function clinicTime(iso, { zone, none = "—", ...format } = {}) {
  // A page whose answer names the zone again holds it (an admin may just have changed it).
  if (zone !== undefined) setClinicZone(zone);
  if (!iso) return none;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(document.documentElement.lang, inClinicZone(format));
}

/** A 401: the sign-in is gone, so the page goes back to it. */
export function signedOut(result, hooks) {
  if (result.status !== 401) return false;
  hooks.onSession({ state: "anonymous" });
  return true;
}

/**
 * A screen's message line (`<p class="form-message" role="alert">`).
 *
 * `check(result, okKey, params)` turns an API answer into a message: signed out -> back to
 * sign-in, an error -> its translated text, success -> `okKey` (null clears the line; leaving
 * okKey out keeps what it says). `relabel()` says the same again in the current language.
 */
export function messageLine(element, hooks) {
  let said = { key: null, kind: "error", params: {} };

  function say(key, kind = "error", params = {}) {
    said = { key, kind, params };
    element.textContent = key ? t(key, params) : "";
    element.dataset.kind = kind;
  }

  return {
    say,
    get key() {
      return said.key;
    },
    check(result, okKey = undefined, params = {}) {
      if (signedOut(result, hooks)) return false;
      if (result.status >= 300 || result.status === 0) {
        const { key, params: wait } = describeError(result.status, result.body);
        say(key, "error", wait);
        return false;
      }
      if (okKey !== undefined) say(okKey, "ok", params);
      return true;
    },
    relabel() {
      say(said.key, said.kind, said.params);
    },
  };
}

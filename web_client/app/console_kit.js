/**
 * What every console page shares: table cells, buttons, the page's message line, the
 * confirmation step of a destructive action, and clinic-time formatting.
 */

import { errorKey } from "../core/auth.js";
import { inClinicZone } from "../core/clinic_time.js";
import { t } from "../core/i18n.js";

export function cell(text) {
  const td = document.createElement("td");
  if (text !== undefined) td.textContent = text;
  return td;
}

export function button(label, onClick, className = "button button-quiet") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

/** A time as the clinic reads it (its zone, the page's language); "—" for none. */
export function clinicTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(document.documentElement.lang, inClinicZone());
}

/**
 * The page's message line. `check(result, okKey)` turns an API answer into a message:
 * signed out -> back to sign-in, an error -> its translated text, success -> `okKey`.
 */
export function messageLine(element, hooks) {
  let key = null;
  function say(next, kind = "error") {
    key = next;
    element.textContent = next ? t(next) : "";
    element.dataset.kind = kind;
  }
  return {
    say,
    get key() {
      return key;
    },
    check(result, okKey = null) {
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
    },
  };
}

/**
 * A destructive action's two steps in place of its button: the first click asks
 * (`questionKey`, with a confirm and a cancel button), only the confirm acts.
 * @returns {HTMLElement} a span holding the button or the question
 */
export function confirmed(labelKey, questionKey, params, act) {
  const holder = document.createElement("span");
  holder.className = "confirm-step";
  const start = button(t(labelKey), () => {
    const question = document.createElement("span");
    question.className = "confirm-question";
    question.textContent = t(questionKey, params);
    const yes = button(t("console.confirm"), async () => {
      yes.disabled = true;
      await act();
    }, "button button-danger");
    const no = button(t("console.cancel"), () => holder.replaceChildren(start));
    holder.replaceChildren(question, yes, no);
    yes.focus();
  }, "button button-quiet");
  holder.append(start);
  return holder;
}

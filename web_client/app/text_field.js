/**
 * The viewer's own text field, for devices whose keyboard produces text rather than keys
 * (a tablet's soft keyboard) or when the person prefers this device's IME. Offered only
 * when the clinic's text entry allows viewer text (core/text_entry.js, the ticket says).
 *
 * What the person commits here (an IME's conversion confirmed, a soft keyboard's word) is
 * sent as `text` messages and the field empties again; while the IME composes nothing is
 * sent. Enter and Tab go to the host as keys (after the text before them), and so do
 * Backspace, Delete, Escape and the arrows while the field is empty, so that corrections
 * reach the host's document. Paste and drop never fill the field: the page swallows them
 * in the capture phase (app/input_capture.js, audited), and the field refuses them again
 * here, so a `text` message only ever holds what was composed.
 */

import { keyMessage } from "../core/input.js";
import { TextPacer, textMessages } from "../core/text_entry.js";

// Keys the host needs even though the field is for text: editing and moving in the host's
// document. Only while nothing is left in the field (otherwise they edit the field).
const EDIT_KEYS = new Set([
  "Backspace",
  "Delete",
  "Escape",
  "ArrowLeft",
  "ArrowRight",
  "ArrowUp",
  "ArrowDown",
  "Home",
  "End",
]);
const REFUSED_INPUT = new Set(["insertFromPaste", "insertFromPasteAsQuotation", "insertFromDrop", "insertFromYank"]);

/**
 * @param {HTMLInputElement} field
 * @param {object} hooks
 * @param {(message: string) => boolean} hooks.send sends on the `input` channel; false
 *   when there is no open channel
 * @param {(kind: string) => void} [hooks.blocked] told of a paste or drop refused here
 * @returns {{forget: () => void, pending: () => number}}
 */
export function attachTextField(field, hooks) {
  const pacer = new TextPacer(hooks.send);
  let composing = false;

  function commit() {
    const value = field.value;
    if (value === "") return;
    field.value = "";
    pacer.push(textMessages(value));
  }

  function sendKey(event) {
    const down = keyMessage(event, true);
    const up = keyMessage(event, false);
    if (down && up) pacer.push([down, up]);
  }

  field.addEventListener("compositionstart", () => {
    composing = true;
  });
  field.addEventListener("compositionend", () => {
    composing = false;
    commit();
  });
  field.addEventListener("beforeinput", (event) => {
    if (REFUSED_INPUT.has(event.inputType)) {
      event.preventDefault();
      hooks.blocked?.(event.inputType === "insertFromDrop" ? "drop_blocked" : "paste_blocked");
    }
  });
  field.addEventListener("input", (event) => {
    // Mid-composition the field holds the IME's unconfirmed reading: not text yet.
    if (composing || event.isComposing) return;
    commit();
  });
  field.addEventListener("keydown", (event) => {
    if (composing || event.isComposing || event.key === "Process") return;
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      commit();
      sendKey(event);
    } else if (field.value === "" && EDIT_KEYS.has(event.key)) {
      event.preventDefault();
      sendKey(event);
    }
  });

  return {
    forget() {
      pacer.clear();
      field.value = "";
      composing = false;
    },
    pending: () => pacer.pending,
  };
}

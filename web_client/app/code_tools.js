/**
 * Print and copy buttons under a list of recovery codes shown once (enrollment, account).
 *
 * Both stay on this computer: printing prints the codes alone (auth.css, @media print);
 * copying puts exactly the codes, one a line, on this computer's clipboard for the
 * person's own password manager. The Clipboard API is off on every page by the broker's
 * Permissions-Policy (clipboard-write=(), which the viewer needs); a copy the person's own
 * click starts (execCommand, a copy event filled here) is not that API and reaches
 * nothing but the local clipboard.
 */

import { t } from "../core/i18n.js";
import { button, el } from "./kit.js";

/**
 * @param {HTMLElement} list the <ol> whose <li> hold one code each
 * @returns {{relabel: () => void}}
 */
export function attachCodeTools(list) {
  const box = el("p", "code-tools");
  const note = el("span", "hint code-tools-note");
  note.setAttribute("role", "status");
  let noteKey = null;

  function codes() {
    return [...list.querySelectorAll("li")].map((li) => li.textContent.trim()).filter(Boolean);
  }

  function say(key) {
    noteKey = key;
    note.textContent = key ? t(key) : "";
  }

  const print = button(t("codes.print"), () => {
    list.dataset.print = "true";
    document.body.dataset.printing = "codes";
    window.addEventListener(
      "afterprint",
      () => {
        delete document.body.dataset.printing;
        delete list.dataset.print;
      },
      { once: true },
    );
    window.print();
  });
  print.classList.add("code-print");

  const copy = button(t("codes.copy"), () => {
    const text = codes().join("\n");
    const fill = (event) => {
      event.clipboardData.setData("text/plain", text);
      event.preventDefault();
    };
    document.addEventListener("copy", fill, { once: true });
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    document.removeEventListener("copy", fill);
    say(ok ? "codes.copied" : "codes.copyFailed");
  });
  copy.classList.add("code-copy");

  box.append(print, " ", copy, " ", note);
  list.after(box);

  function sync() {
    box.hidden = list.hidden || codes().length === 0;
    if (box.hidden) say(null);
  }
  new MutationObserver(sync).observe(list, { childList: true, attributes: true, attributeFilter: ["hidden"] });
  sync();

  return {
    relabel() {
      print.textContent = t("codes.print");
      copy.textContent = t("codes.copy");
      say(noteKey);
    },
  };
}

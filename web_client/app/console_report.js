/**
 * The console's compliance report page: each MHLW checklist row with its live evidence and
 * result, what stays the clinic's responsibility, the CSV download, and the audited
 * "reviewed by / on" mark.
 */

import { getLanguage, t } from "../core/i18n.js";
import { call } from "./api.js";
import { cell, clinicTime, el, messageLine } from "./console_kit.js";

export function createReportPage(hooks) {
  const rows = document.getElementById("report-rows");
  const duties = document.getElementById("report-duties");
  const checked = document.getElementById("report-checked");
  const review = document.getElementById("report-review");
  const download = document.getElementById("report-download");
  const form = document.getElementById("report-review-form");
  const note = document.getElementById("report-review-note");
  const message = messageLine(document.getElementById("report-message"), hooks);

  function render(report) {
    checked.textContent = t("report.checked", { time: clinicTime(report.checked_at) });
    rows.replaceChildren(
      ...report.rows.map((row) => {
        const tr = el("tr");
        tr.dataset.row = String(row.number);
        tr.dataset.status = row.status;
        const status = cell(t(`report.status.${row.status}`));
        status.className = `report-status report-${row.status}`;
        tr.append(cell(String(row.number)), cell(row.requirement), cell(row.evidence), status);
        return tr;
      }),
    );
    duties.replaceChildren(...report.clinic_duties.map((text) => el("li", "", text)));
    const last = report.last_review;
    review.textContent = last
      ? t("report.reviewed", { who: last.reviewed_by, time: clinicTime(last.reviewed_at), note: last.note })
      : t("report.neverReviewed");
    download.href = `/api/admin/report/download?lang=${getLanguage()}`;
  }

  async function load() {
    const result = await call("GET", `/api/admin/report?lang=${getLanguage()}`);
    if (message.check(result)) render(result.body);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("POST", `/api/admin/report/review?lang=${getLanguage()}`, {
      note: note.value.trim(),
    });
    if (message.check(result, "report.reviewDone")) {
      form.reset();
      render(result.body);
    }
  });

  return {
    show() {
      message.say(null);
      load();
    },
    relabel() {
      message.relabel();
      load();
    },
  };
}

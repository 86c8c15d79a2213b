/**
 * The console's audit page: whether the clinic's trail is intact ("checked up to record N
 * at T", from the broker verifying the hash chain now), a search with filters, the results
 * a page at a time, and exports (CSV for Excel, JSON lines) of what the filters select.
 * The broker scopes all of it to the admin's own clinic and audits every export.
 */

import { auditParams, chainSummary, exportHref } from "../core/audit_query.js";
import { clinicZone } from "../core/clinic_time.js";
import { getLanguage, hasKey, t } from "../core/i18n.js";
import { call } from "./api.js";
import { cell, clinicTime, el, messageLine, signedOut } from "./console_kit.js";

const PAGE_SIZE = 50;

function labelOf(prefix, code) {
  return hasKey(`${prefix}.${code}`) ? t(`${prefix}.${code}`) : code;
}

export function createAuditPage(hooks) {
  const form = document.getElementById("audit-filter-form");
  const field = (name) => document.getElementById(`audit-${name}`);
  const message = messageLine(document.getElementById("audit-message"), hooks);
  const chain = document.getElementById("audit-chain");
  const count = document.getElementById("audit-count");
  const rows = document.getElementById("audit-rows");
  const newer = document.getElementById("audit-newer");
  const older = document.getElementById("audit-older");
  const exportCsv = document.getElementById("audit-export-csv");
  const exportJsonl = document.getElementById("audit-export-jsonl");
  const eventSelect = field("event");

  let events = []; // the event names the broker knows, for the filter's choices
  let params = new URLSearchParams();
  let cursors = [null]; // before_id of each page shown so far (null: the newest)
  let page = null;
  let chainStatus = null;

  function renderChain() {
    if (chainStatus === null) {
      chain.dataset.state = "checking";
      chain.textContent = t("audit.chainChecking");
      return;
    }
    if (chainStatus === "error") {
      chain.dataset.state = "error";
      chain.textContent = t("audit.chainError");
      return;
    }
    const summary = chainSummary(chainStatus, clinicTime);
    chain.dataset.state = summary.state;
    const extra = summary.whatKey ? { what: t(summary.whatKey) } : {};
    chain.textContent = t(summary.key, { ...summary.params, ...extra });
  }

  function renderEventChoices() {
    const chosen = eventSelect.value;
    const any = el("option", "", t("audit.any"));
    any.value = "";
    const options = events.map((code) => {
      const option = el("option", "", labelOf("auditEvent", code));
      option.value = code;
      return option;
    });
    options.sort((a, b) => a.textContent.localeCompare(b.textContent, document.documentElement.lang));
    eventSelect.replaceChildren(any, ...options);
    eventSelect.value = chosen;
  }

  function renderExports() {
    for (const [link, format] of [[exportCsv, "csv"], [exportJsonl, "jsonl"]]) {
      link.href = exportHref(params, format, getLanguage());
    }
  }

  function renderPage() {
    if (page === null) return;
    rows.replaceChildren(
      ...page.events.map((e) => {
        const tr = el("tr");
        tr.dataset.sequence = String(e.sequence);
        tr.dataset.event = e.event;
        tr.append(
          cell(clinicTime(e.at)),
          cell(e.actor || "—"),
          cell(labelOf("auditEvent", e.event)),
          cell(labelOf("auditOutcome", e.outcome)),
          cell(e.source_address || "—"),
          cell(e.detail),
        );
        if (e.outcome !== "success") tr.dataset.outcome = e.outcome;
        return tr;
      }),
    );
    const first = (cursors.length - 1) * PAGE_SIZE + 1;
    count.textContent = page.total === 0
      ? t("audit.none")
      : t("audit.count", { total: page.total, from: first, to: first + page.events.length - 1 });
    newer.disabled = cursors.length <= 1;
    older.disabled = page.next_before_id === null;
  }

  async function loadPage() {
    const query = new URLSearchParams(params);
    query.set("limit", String(PAGE_SIZE));
    const before = cursors[cursors.length - 1];
    if (before !== null) query.set("before_id", String(before));
    const result = await call("GET", `/api/admin/audit/search?${query}`);
    if (!message.check(result, null)) return;
    page = result.body;
    renderPage();
  }

  async function loadChain() {
    chainStatus = null;
    renderChain();
    const result = await call("GET", "/api/admin/audit/chain");
    if (signedOut(result, hooks)) return;
    chainStatus = result.status === 200 ? result.body : "error";
    renderChain();
  }

  async function loadKinds() {
    if (events.length) return;
    const result = await call("GET", "/api/admin/audit/kinds");
    if (result.status === 200) {
      events = result.body.events;
      renderEventChoices();
    }
  }

  function search() {
    // The form's days are the clinic's calendar days, in its zone.
    const built = auditParams(
      {
        since: field("since").value,
        until: field("until").value,
        event: eventSelect.value,
        outcome: field("outcome").value,
        actor: field("actor").value,
        text: field("text").value,
      },
      clinicZone(),
    );
    if (!built.ok) {
      message.say(built.error);
      return;
    }
    params = built.params;
    cursors = [null];
    renderExports();
    loadPage();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  document.getElementById("audit-clear").addEventListener("click", () => {
    form.reset();
    search();
  });
  older.addEventListener("click", () => {
    if (page?.next_before_id) {
      cursors.push(page.next_before_id);
      loadPage();
    }
  });
  newer.addEventListener("click", () => {
    if (cursors.length > 1) {
      cursors.pop();
      loadPage();
    }
  });

  return {
    show() {
      message.say(null);
      renderExports();
      loadKinds();
      loadChain();
      loadPage();
    },
    relabel() {
      message.relabel();
      renderExports(); // the CSV follows the page's language
      renderEventChoices();
      renderChain();
      renderPage();
    },
  };
}

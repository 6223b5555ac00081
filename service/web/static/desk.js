// The editor desk: sign in with a token (sessionStorage only), compose, preview, publish,
// correct and retract through the public API, and watch subscriber counts.

import { BreakingClient } from "/static/breaking-client.js";
import "/static/breaking-ticker.js";
import { CATEGORIES, clock, el, LANGUAGES, PRIORITIES, REGIONS, regionName, textDirection } from "./newsroom.js";

/** @typedef {import("/static/breaking-client.js").BreakingEvent} BreakingEvent */
/** @typedef {{title: string, status: number, detail: string, errors?: {field: string, message: string}[]}} Problem */

const TOKEN_KEY = "breaking-push.editor-token";
const HEADLINE_MAX = 280;
const HEADLINE_NEAR = 260;
const STATS_EVERY_MS = 3000;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from desk.html`);
  return /** @type {T} */ (element);
}

class ApiError extends Error {
  /** @param {Problem} problem */
  constructor(problem) {
    super(problem.detail);
    this.problem = problem;
  }
}

/** @type {string | null} */
let token = sessionStorage.getItem(TOKEN_KEY);

/**
 * Call the API with the editor token; errors come back as problem+json.
 * @param {string} method
 * @param {string} path
 * @param {{body?: unknown, idempotencyKey?: string, as?: string}} [options]
 */
async function api(method, path, { body, idempotencyKey, as = token ?? "" } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${as}`, Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError({ title: "Service unreachable", status: 0, detail: "The request did not reach the service. Check the connection and try again." });
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const problem = data?.detail
    ? data
    : { title: response.statusText || "Error", status: response.status, detail: `The service answered ${response.status}.` };
  if (response.status === 401 && token) signOut("Your token was not accepted any more: sign in again.");
  throw new ApiError(problem);
}

/**
 * What an editor should read for a field the API refused: the API's own words are for
 * developers ("List should have at least 1 item after validation, not 0").
 * @param {string} field
 * @param {string} message
 */
function plainMessage(field, message) {
  const tooLong = /at most (\d+)/.exec(message);
  switch (field) {
    case "headline":
      if (/at least 1/.test(message)) return "Write a headline.";
      if (tooLong) return `Shorten the headline to ${tooLong[1]} characters or fewer.`;
      if (/one line/.test(message)) return "Keep the headline on one line.";
      break;
    case "regions":
      if (/at least 1/.test(message)) return "Choose at least one region.";
      if (tooLong) return `Choose at most ${tooLong[1]} regions.`;
      if (/unknown region/.test(message)) return "Choose regions from the list.";
      break;
    case "url":
      return "Give a full web address starting with http:// or https://, or leave it empty.";
    case "source":
      if (tooLong) return `Shorten the source to ${tooLong[1]} characters or fewer.`;
      if (/one line/.test(message)) return "Keep the source on one line.";
      break;
    case "ttl_seconds":
      if (tooLong) return "Choose a shorter time: this node keeps alerts for less.";
      return "Choose how long the alert runs.";
    case "language":
    case "category":
    case "priority":
      return `Choose a ${field} from the list.`;
    default:
  }
  return message;
}

/**
 * Show a problem: each field's message once, beside the field (inside `scope`), and only
 * what no field shows in the notice.
 * @param {HTMLElement} notice
 * @param {unknown} error
 * @param {HTMLElement} [scope]
 */
function showProblem(notice, error, scope) {
  const problem = error instanceof ApiError ? error.problem : { title: "Error", status: 0, detail: String(error) };
  notice.className = "notice error";
  const unplaced = [];
  /** @type {HTMLElement | null} */
  let first = null;
  for (const { field, message } of problem.errors ?? []) {
    const name = field.split(".")[0];
    const slot = scope?.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`);
    if (!slot) {
      unplaced.push(`${name}: ${plainMessage(name, message)}`);
      continue;
    }
    slot.textContent = plainMessage(name, message);
    const control = /** @type {HTMLElement | null} */ (slot.closest(".field, fieldset")?.querySelector("input, select, textarea") ?? null);
    control?.setAttribute("aria-invalid", "true");
    first ??= control;
  }
  if (problem.errors?.length && !unplaced.length) {
    notice.replaceChildren("Nothing was published: correct the fields marked below.");
  } else if (unplaced.length) {
    notice.replaceChildren("Nothing was published:", el("ul"));
    for (const line of unplaced) notice.lastElementChild?.append(el("li", {}, line));
  } else {
    notice.replaceChildren(el("strong", {}, problem.title), problem.detail);
  }
  first?.focus();
}

/**
 * @param {HTMLElement} notice
 * @param {string} text
 */
function showOk(notice, text) {
  notice.className = "notice ok";
  notice.textContent = text;
}

/** @param {HTMLElement} scope */
function clearProblems(scope) {
  for (const slot of scope.querySelectorAll(".field-error")) slot.textContent = "";
  for (const control of scope.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const notice of scope.querySelectorAll(".notice")) notice.replaceChildren();
}

// A key per draft: a retry after a network error publishes once; any edit starts a new draft.
function newIdempotencyKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- sign in / out -------------------------------------------------------------------------

// Every live alert, so any of them can be corrected or retracted (500 is the API's ceiling).
const feed = new BreakingClient({ limit: 500 });
/** @type {ReturnType<typeof setInterval> | undefined} */
let statsTimer;

function enterDesk() {
  byId("signin").hidden = true;
  byId("workspace").hidden = false;
  feed.start();
  void refreshStats();
  statsTimer = setInterval(() => {
    if (document.visibilityState === "visible") void refreshStats();
  }, STATS_EVERY_MS);
  byId("headline").focus();
}

/** @param {string} [why] */
function signOut(why) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(statsTimer);
  feed.stop();
  byId("workspace").hidden = true;
  byId("signin").hidden = false;
  const notice = byId("signin-error");
  notice.replaceChildren();
  if (why) showProblem(notice, new ApiError({ title: "Signed out", status: 401, detail: why }));
  byId("token").focus();
}

byId("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId("token"));
  const notice = byId("signin-error");
  notice.replaceChildren();
  const candidate = input.value.trim();
  if (!candidate) {
    showProblem(notice, new ApiError({ title: "Token required", status: 0, detail: "Enter your editor token." }));
    return;
  }
  try {
    // Any editor-only endpoint proves the token; the stats are needed next anyway.
    await api("GET", "/v1/stats", { as: candidate });
  } catch (error) {
    showProblem(notice, error);
    return;
  }
  token = candidate;
  sessionStorage.setItem(TOKEN_KEY, candidate);
  input.value = "";
  enterDesk();
});
byId("sign-out").addEventListener("click", () => signOut());

// ---- compose -------------------------------------------------------------------------------

const form = /** @type {HTMLFormElement} */ (byId("compose"));
const headline = /** @type {HTMLTextAreaElement} */ (byId("headline"));
const counter = /** @type {HTMLOutputElement} */ (byId("headline-count"));
const language = /** @type {HTMLSelectElement} */ (byId("language"));
const category = /** @type {HTMLSelectElement} */ (byId("category"));
const priority = /** @type {HTMLSelectElement} */ (byId("priority"));
const ttl = /** @type {HTMLSelectElement} */ (byId("ttl"));
const source = /** @type {HTMLInputElement} */ (byId("source"));
const link = /** @type {HTMLInputElement} */ (byId("url"));
const preview = /** @type {any} */ (byId("preview"));
const publish = /** @type {HTMLButtonElement} */ (byId("publish"));
const keepRegions = /** @type {HTMLInputElement} */ (byId("keep-regions"));
/** @type {string | null} */
let draftKey = null;
// The alert the success notice is about: the notice goes when that alert is retracted.
/** @type {string | null} */
let noticeFor = null;

for (const [code, name] of LANGUAGES) language.append(el("option", { value: code, lang: code }, name));
for (const [slug, name] of CATEGORIES) category.append(el("option", { value: slug }, name));
for (const [slug, name] of PRIORITIES) priority.append(el("option", { value: slug }, name));
priority.value = "breaking";
const regionChecks = byId("region-checks");
for (const [slug, name] of REGIONS) {
  const label = el("label");
  label.append(el("input", { type: "checkbox", name: "regions", value: slug }), name);
  regionChecks.append(label);
}

// The editor's defaults: what a fresh form starts with, and returns to after each publish.
const defaults = { category: category.value, priority: priority.value, ttl: ttl.value };

/** After a publish: the next alert starts clean (its language, and regions if kept, stay). */
function resetCompose() {
  headline.value = source.value = link.value = "";
  category.value = defaults.category;
  priority.value = defaults.priority;
  ttl.value = defaults.ttl;
  if (!keepRegions.checked) {
    for (const box of form.querySelectorAll('input[name="regions"]')) /** @type {HTMLInputElement} */ (box).checked = false;
  }
  updateDraft();
}

function selectedRegions() {
  return [...form.querySelectorAll('input[name="regions"]:checked')].map((box) => /** @type {HTMLInputElement} */ (box).value);
}

/** The request body, exactly as typed: the API is the one judge of what is valid. */
function draft() {
  /** @type {Record<string, unknown>} */
  const body = {
    headline: headline.value,
    regions: selectedRegions(),
    language: language.value,
    priority: priority.value,
    ttl_seconds: Number(ttl.value),
  };
  if (category.value) body.category = category.value;
  if (source.value.trim()) body.source = source.value.trim();
  if (link.value.trim()) body.url = link.value.trim();
  return body;
}

function updateDraft() {
  draftKey = null;
  const length = [...headline.value].length;
  counter.value = `${length} / ${HEADLINE_MAX}`;
  counter.dataset.level = length > HEADLINE_MAX ? "over" : length >= HEADLINE_NEAR ? "near" : "ok";
  headline.dir = source.dir = textDirection(language.value);
  headline.lang = language.value;
  preview.setAttribute("language", language.value);
  const text = headline.value.trim();
  const farFuture = new Date(Date.now() + 86_400_000).toISOString();
  preview.alerts = text
    ? [{ id: "0-0", type: "alert", alert_id: "0-0", headline: text, regions: selectedRegions(), language: language.value, priority: priority.value, url: link.value.trim() || undefined, published_at: new Date().toISOString(), expires_at: farFuture }]
    : [];
}

form.addEventListener("input", updateDraft);
form.addEventListener("change", updateDraft);
// An error beside a field goes as soon as the editor changes that field.
form.addEventListener("input", (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const holder = target.closest(".field, fieldset");
  const slot = holder?.querySelector(".field-error");
  if (slot) slot.textContent = "";
  holder?.querySelector("[aria-invalid]")?.removeAttribute("aria-invalid");
});
headline.addEventListener("keydown", (event) => {
  // A headline is one line: Enter never adds a newline; Ctrl/Cmd+Enter publishes.
  if (event.key !== "Enter") return;
  event.preventDefault();
  if (event.ctrlKey || event.metaKey) form.requestSubmit();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblems(form);
  const notice = byId("compose-notice");
  draftKey ??= newIdempotencyKey();
  publish.disabled = true;
  try {
    /** @type {BreakingEvent} */
    const published = await api("POST", "/v1/alerts", { body: draft(), idempotencyKey: draftKey });
    showOk(notice, `Published (${published.id}): ${published.headline}`);
    noticeFor = published.alert_id;
    resetCompose();
    headline.focus();
  } catch (error) {
    showProblem(notice, error, form);
  } finally {
    publish.disabled = false;
  }
});

// ---- live alerts: correct and retract --------------------------------------------------------

const liveBody = byId("live-alerts");
/** @type {Map<string, {row: HTMLTableRowElement, text: HTMLElement, meta: HTMLElement, history: HTMLElement, audit: HTMLDetailsElement, regions: HTMLElement, time: HTMLElement, editor: HTMLElement}>} */
const rows = new Map();
// Each alert as last seen live, so a retraction can say what it withdrew (the newest kept).
/** @type {Map<string, BreakingEvent>} */
const lastSeen = new Map();
const LAST_SEEN_KEPT = 1000;
const RETRACTED_SHOWN = 100;

/** @param {BreakingEvent} alert */
function makeRow(alert) {
  const row = /** @type {HTMLTableRowElement} */ (el("tr", { "data-alert-id": alert.alert_id }));
  const text = el("div", { class: "headline-text" });
  const meta = el("div", { class: "meta" });
  const editor = el("div", { class: "editor" });
  const history = el("div", { class: "history" });
  const audit = auditDisclosure(alert.alert_id);
  const cell = el("td", { class: "headline-cell" });
  cell.append(text, history, meta, audit, editor);
  const regions = el("td");
  const time = el("td", { class: "meta" });
  const actions = el("td", { class: "row-actions" });
  const correct = el("button", { type: "button", class: "small", "data-action": "correct" }, "Correct");
  const retract = el("button", { type: "button", class: "small danger", "data-action": "retract" }, "Retract");
  correct.addEventListener("click", () => openEditor(alert.alert_id, "correct"));
  retract.addEventListener("click", () => openEditor(alert.alert_id, "retract"));
  actions.append(correct, retract);
  row.append(cell, regions, time, actions);
  return { row, text, meta, history, audit, regions, time, editor };
}

// ---- the audit trail: who wrote what, for editors only ----------------------------------------

/** @typedef {{id: string, action: "publish" | "correct" | "retract", alert_id: string, event_id: string, editor: string, at: string, request_id: string, headline_before: string | null, headline_after: string | null, reason: string | null}} AuditEntry */

const AUDIT_WORDS = { publish: "Published", correct: "Corrected", retract: "Retracted" };

/**
 * Every write to one alert, newest first, from `GET /v1/audit`.
 * @param {string} alertId
 * @returns {Promise<AuditEntry[]>}
 */
async function auditOf(alertId) {
  const page = await api("GET", `/v1/audit?alert_id=${encodeURIComponent(alertId)}&limit=100`);
  return page.entries;
}

/** @param {AuditEntry} entry */
function auditLine(entry) {
  const item = el("li", { "data-action": entry.action });
  item.append(
    el("strong", {}, AUDIT_WORDS[entry.action]),
    ` by ${entry.editor} at `,
    el("time", { datetime: entry.at, title: `Request ${entry.request_id}` }, clock(entry.at)),
  );
  if (entry.action === "correct") item.append(el("div", { class: "change" }, `“${entry.headline_before ?? ""}” → “${entry.headline_after ?? ""}”`));
  if (entry.action === "retract" && entry.reason) item.append(el("div", { class: "change" }, `Reason: ${entry.reason}`));
  return item;
}

/**
 * A "History" disclosure under an alert: its audit trail, read when opened.
 * @param {string} alertId
 */
function auditDisclosure(alertId) {
  const details = /** @type {HTMLDetailsElement} */ (el("details", { class: "audit" }));
  const list = el("ol", { class: "audit-list", "aria-live": "polite" });
  details.append(el("summary", {}, "History"), list);
  details.addEventListener("toggle", () => {
    if (details.open) void refreshAudit(details);
  });
  details.dataset.alertId = alertId;
  return details;
}

/** @param {HTMLDetailsElement} details */
async function refreshAudit(details) {
  const list = /** @type {HTMLElement} */ (details.querySelector(".audit-list"));
  try {
    const entries = await auditOf(details.dataset.alertId ?? "");
    list.replaceChildren(...entries.map(auditLine));
  } catch (error) {
    list.replaceChildren(el("li", { class: "field-error" }, error instanceof ApiError ? error.problem.detail : String(error)));
  }
}

/**
 * An inline form under the headline: a new headline, or a reason to retract.
 * @param {string} alertId
 * @param {"correct" | "retract"} mode
 */
function openEditor(alertId, mode) {
  const entry = rows.get(alertId);
  const alert = feed.alerts.find((a) => a.alert_id === alertId);
  if (!entry || !alert) return;
  const editForm = /** @type {HTMLFormElement} */ (el("form", { class: "edit", novalidate: "" }));
  const input = /** @type {HTMLInputElement} */ (el("input", {
    type: "text",
    "aria-label": mode === "correct" ? "Corrected headline" : "Reason for the retraction (optional)",
    placeholder: mode === "correct" ? "" : "Reason (optional)",
  }));
  if (mode === "correct") {
    input.value = alert.headline ?? "";
    input.dir = textDirection(alert.language);
  }
  const submit = el("button", { type: "submit", class: mode === "correct" ? "small primary" : "small danger" }, mode === "correct" ? "Save correction" : "Retract alert");
  const cancel = el("button", { type: "button", class: "small" }, "Cancel");
  const notice = el("div", { class: "notice", role: "alert" });
  cancel.addEventListener("click", () => entry.editor.replaceChildren());
  editForm.append(input, submit, cancel);
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    notice.replaceChildren();
    const path = `/v1/alerts/${encodeURIComponent(alertId)}`;
    try {
      if (mode === "correct") await api("POST", `${path}/corrections`, { body: { headline: input.value } });
      else await api("DELETE", path, { body: { reason: input.value } });
      entry.editor.replaceChildren();
    } catch (error) {
      showProblem(notice, error);
    }
  });
  entry.editor.replaceChildren(editForm, notice);
  input.focus();
}

// Rows are updated in place, so an open correction form keeps its text and focus.
function renderLive() {
  const alerts = feed.alerts;
  const live = new Set(alerts.map((alert) => alert.alert_id));
  for (const [id, entry] of rows) {
    if (!live.has(id)) {
      entry.row.remove();
      rows.delete(id);
    }
  }
  alerts.forEach((alert, index) => {
    let entry = rows.get(alert.alert_id);
    if (!entry) {
      entry = makeRow(alert);
      rows.set(alert.alert_id, entry);
    }
    lastSeen.delete(alert.alert_id);
    lastSeen.set(alert.alert_id, alert);
    if (lastSeen.size > LAST_SEEN_KEPT) lastSeen.delete(lastSeen.keys().next().value ?? "");
    if (entry.audit.open && entry.text.textContent !== (alert.headline ?? "")) void refreshAudit(entry.audit);
    entry.text.textContent = alert.headline ?? "";
    entry.text.dir = textDirection(alert.language);
    entry.text.lang = alert.language;
    showHistory(entry.history, alert);
    const category = CATEGORIES.find(([slug]) => slug === alert.category)?.[1];
    entry.meta.replaceChildren(
      el("span", { class: `pill ${alert.priority}` }, alert.priority),
      ` ${[alert.language.toUpperCase(), category, alert.source].filter(Boolean).join(" · ")}`,
    );
    entry.regions.textContent = alert.regions.map(regionName).join(", ");
    entry.time.textContent = `${clock(alert.published_at)} · until ${clock(alert.expires_at)}`;
    if (liveBody.children[index] !== entry.row) liveBody.insertBefore(entry.row, liveBody.children[index] ?? null);
  });
  byId("live-empty").hidden = alerts.length > 0;
}

/**
 * A corrected alert gets a badge, and its first headline behind a disclosure.
 * @param {HTMLElement} holder
 * @param {BreakingEvent} alert
 */
function showHistory(holder, alert) {
  if (!alert.corrected) {
    holder.replaceChildren();
    return;
  }
  const original = holder.querySelector(".original");
  if (original?.textContent === alert.original_headline) return; // keep an open disclosure open
  const details = el("details");
  const summary = el("summary");
  summary.append(el("span", { class: "badge" }, "Corrected"), " Show the original headline");
  const first = el("p", { class: "original", lang: alert.language, dir: textDirection(alert.language) }, alert.original_headline ?? "");
  details.append(summary, first);
  holder.replaceChildren(details);
}

const retractedList = byId("retracted");

/** @param {BreakingEvent} retraction */
function showRetracted(retraction) {
  const alert = lastSeen.get(retraction.alert_id);
  lastSeen.delete(retraction.alert_id);
  const item = el("li", { "data-alert-id": retraction.alert_id });
  const text = el("div", { class: "headline-text" }, alert?.headline ?? `Alert ${retraction.alert_id}`);
  if (alert) {
    text.lang = alert.language;
    text.dir = textDirection(alert.language);
  }
  const reason = el("div", { class: "reason" }, retraction.reason ? `Reason: ${retraction.reason}` : "No reason given");
  const when = el("div", { class: "meta" });
  when.append(el("time", { datetime: retraction.published_at }, `Retracted at ${clock(retraction.published_at)}`));
  item.append(text, reason, when);
  void showRetractedBy(when, retraction.id, retraction.alert_id);
  retractedList.prepend(item);
  while (retractedList.children.length > RETRACTED_SHOWN) retractedList.lastElementChild?.remove();
  byId("retracted-empty").hidden = true;
  if (noticeFor === retraction.alert_id) {
    noticeFor = null;
    byId("compose-notice").replaceChildren();
  }
}

/**
 * Who retracted: the audit entry is written with the retraction, so it is there by now.
 * @param {HTMLElement} when
 * @param {string} eventId
 * @param {string} alertId
 */
async function showRetractedBy(when, eventId, alertId) {
  try {
    const entry = (await auditOf(alertId)).find((e) => e.event_id === eventId);
    if (entry) when.append(` by ${entry.editor}`);
  } catch {
    when.append(" (who retracted could not be read)");
  }
}

for (const type of ["reset", "alert", "correction", "retraction"]) feed.addEventListener(type, renderLive);
feed.addEventListener("retraction", (event) => showRetracted(/** @type {CustomEvent} */ (event).detail));
feed.addEventListener("status", (event) => {
  const { status, transport } = /** @type {CustomEvent} */ (event).detail;
  const state = byId("feed-state");
  state.dataset.state = status;
  state.textContent = status === "live" ? `Live (${transport === "ws" ? "WebSocket" : "SSE"})` : status === "stopped" ? "Stopped" : "Reconnecting…";
});
// Expired alerts leave the list even when nothing else happens.
setInterval(renderLive, 30_000);

// ---- subscriber counts -----------------------------------------------------------------------

/**
 * @param {HTMLElement} list
 * @param {[string, number][]} entries
 * @param {number} total
 */
function fillCounts(list, entries, total) {
  list.replaceChildren();
  for (const [name, count] of entries) {
    // A <dl> may hold only dt/dd groups: the bar lives inside the dd, the group in a div.
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    const fill = el("span");
    fill.style.width = `${total ? Math.round((count / total) * 100) : 0}%`;
    bar.append(fill);
    const value = el("dd", {}, String(count));
    value.append(bar);
    const group = el("div");
    group.append(el("dt", {}, name), value);
    list.append(group);
  }
}

async function refreshStats() {
  if (!token) return;
  try {
    const { subscribers } = await api("GET", "/v1/stats");
    byId("stats-total").textContent = String(subscribers.total);
    const transports = subscribers.by_transport ?? {};
    fillCounts(byId("stats-transports"), [["WebSocket", transports.ws ?? 0], ["SSE", transports.sse ?? 0]], subscribers.total);
    const byRegion = subscribers.by_region ?? {};
    /** @type {[string, number][]} */
    const regions = [["All regions", byRegion["*"] ?? 0], ...REGIONS.map(([slug, name]) => /** @type {[string, number]} */ ([name, byRegion[slug] ?? 0]))];
    fillCounts(byId("stats-regions"), regions, subscribers.total);
    byId("stats-updated").textContent = `Updated ${clock(new Date().toISOString())}`;
  } catch (error) {
    byId("stats-updated").textContent = `Not updated: ${error instanceof ApiError ? error.problem.detail : error}`;
  }
}

updateDraft();
if (token) {
  // A token from earlier in this tab is checked again before the desk opens.
  // A 401 signs out inside api(); an unreachable service should not cost the editor the session.
  api("GET", "/v1/stats").then(enterDesk, () => {
    if (token) enterDesk();
  });
} else {
  byId("token").focus();
}

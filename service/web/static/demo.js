// The live demo: one shared connection feeds every ticker in the grids and the event log.

import { BreakingClient } from "/static/breaking-client.js";
import "/static/breaking-ticker.js";
import { clock, el, LANGUAGES, REGIONS } from "./newsroom.js";
import "./notify.js";

const LOG_KEPT = 200;

const client = new BreakingClient();
const log = /** @type {HTMLOListElement} */ (document.getElementById("log"));
const sharedState = /** @type {HTMLElement} */ (document.getElementById("shared-state"));

/**
 * @param {HTMLElement} grid
 * @param {string} title
 * @param {Record<string, string>} attributes
 * @returns {HTMLElement}
 */
function addTicker(grid, title, attributes) {
  const card = el("div", { class: "ticker-card" });
  const ticker = document.createElement("breaking-ticker");
  for (const [name, value] of Object.entries(attributes)) ticker.setAttribute(name, value);
  // Set before it is connected: the ticker then never opens a connection of its own.
  /** @type {any} */ (ticker).client = client;
  card.append(el("h3", {}, title), ticker);
  grid.append(card);
  return ticker;
}

const editions = /** @type {HTMLElement} */ (document.querySelector(".editions"));
for (const [code, name] of LANGUAGES) {
  editions.append(el("button", { type: "button", "data-edition": code, "aria-pressed": String(code === "en"), lang: code }, name));
}
const regionLanguage = /** @type {HTMLSelectElement} */ (document.getElementById("region-language"));
for (const [code, name] of LANGUAGES) regionLanguage.append(el("option", { value: code, lang: code }, name));

const editionGrid = /** @type {HTMLElement} */ (document.getElementById("edition-grid"));
for (const [code, , english] of LANGUAGES) {
  addTicker(editionGrid, `${english} edition · all regions`, { language: code, "data-edition": code });
}
const regionGrid = /** @type {HTMLElement} */ (document.getElementById("region-grid"));
const regionTickers = REGIONS.map(([slug, name]) => addTicker(regionGrid, name, { region: slug }));

regionLanguage.addEventListener("change", () => {
  for (const ticker of regionTickers) {
    if (regionLanguage.value) ticker.setAttribute("language", regionLanguage.value);
    else ticker.removeAttribute("language");
  }
});

/**
 * @param {string} kind
 * @param {string} text
 */
function logLine(kind, text) {
  log.querySelector(".empty-log")?.remove();
  const line = el("li", { "data-kind": kind });
  line.append(el("span", { class: "time" }, `${clock(new Date().toISOString())}  `), el("span", { class: "kind" }, kind), ` ${text}`);
  log.prepend(line);
  while (log.children.length > LOG_KEPT) log.lastElementChild?.remove();
}

for (const kind of ["alert", "correction", "retraction"]) {
  client.addEventListener(kind, (event) => {
    const detail = /** @type {CustomEvent} */ (event).detail;
    logLine(kind, JSON.stringify(detail));
  });
}
client.addEventListener("reset", (event) => {
  const { alerts, reason } = /** @type {CustomEvent} */ (event).detail;
  logLine("reset", `${reason}: ${alerts.length} live alert(s) loaded from GET /v1/alerts`);
});
client.addEventListener("status", (event) => {
  const { status, transport, delayMs } = /** @type {CustomEvent} */ (event).detail;
  const via = transport === "ws" ? "WebSocket" : transport === "sse" ? "SSE" : "";
  const text = status === "live" ? `Live via ${via}` : status === "reconnecting" ? "Reconnecting…" : "Connecting…";
  sharedState.textContent = text;
  sharedState.dataset.state = status;
  logLine("status", `${status}${via ? ` (${via})` : ""}${delayMs ? `, next try in ${delayMs} ms` : ""}`);
});

document.getElementById("clear-log")?.addEventListener("click", () => log.replaceChildren());

// The top ticker follows the edition switch in the masthead.
const editionTicker = document.getElementById("edition-ticker");
const editionButtons = document.querySelectorAll(".editions button[data-edition]");
for (const button of editionButtons) {
  button.addEventListener("click", () => {
    editionTicker?.setAttribute("language", button.getAttribute("data-edition") ?? "en");
    for (const other of editionButtons) other.setAttribute("aria-pressed", String(other === button));
  });
}

const snippet = document.getElementById("embed-snippet");
if (snippet) snippet.textContent = snippet.textContent?.replaceAll("https://push.example", location.origin) ?? "";

log.append(el("li", { class: "empty-log" }, "Waiting for events…"));
client.start();

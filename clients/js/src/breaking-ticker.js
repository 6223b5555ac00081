// <breaking-ticker>: the red BREAKING bar, live from breaking-push.
// Embed: <script type="module" src="https://push.example/static/breaking-ticker.js"></script>
//        <breaking-ticker region="mena,palestine" language="ar"></breaking-ticker>

import { BreakingClient, compareIds, fetchMeta, matches, normaliseFilter } from "./breaking-client.js";

/** @typedef {import("./breaking-client.js").BreakingEvent} BreakingEvent */
/** @typedef {import("./breaking-client.js").Filter} Filter */

const TEXT = {
  en: {
    label: "Breaking",
    name: "Breaking news",
    live: "Live",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    empty: "No breaking news right now",
    pause: "Pause",
    play: "Play",
    corrected: "Corrected",
    updated: "Updated",
    refused: "Not allowed on this site",
  },
  ar: {
    label: "عاجل",
    name: "أخبار عاجلة",
    live: "مباشر",
    connecting: "جارٍ الاتصال…",
    reconnecting: "جارٍ إعادة الاتصال…",
    empty: "لا أخبار عاجلة الآن",
    pause: "إيقاف مؤقت",
    play: "تشغيل",
    corrected: "تصحيح",
    updated: "محدّث",
    refused: "غير مسموح على هذا الموقع",
  },
  es: {
    label: "Última hora",
    name: "Noticias de última hora",
    live: "En directo",
    connecting: "Conectando…",
    reconnecting: "Reconectando…",
    empty: "Sin noticias de última hora",
    pause: "Pausar",
    play: "Reanudar",
    corrected: "Corrección",
    updated: "Actualizado",
    refused: "No permitido en este sitio",
  },
};
/** @typedef {keyof typeof TEXT} Language */

// Until the node's /v1/meta says otherwise (it names each language's direction).
const RTL_LANGUAGES = new Set(["ar"]);
// setTimeout's ceiling (~24.8 days); later expiries are re-checked when it fires.
const MAX_TIMER_MS = 2 ** 31 - 1;
// The module's own origin: a page that embeds the script from the push server needs no `server`.
const DEFAULT_SERVER = new URL(import.meta.url).origin;

const STYLES = `
:host {
  display: block;
  --breaking-red: #c8102e;
  --breaking-red-dark: #8e0b20;
  --breaking-ink: #fff;
  font: inherit;
  contain: content;
}
:host([hidden]) { display: none; }
:host([offline]) .state { display: none; }
.bar {
  display: flex;
  align-items: stretch;
  min-height: 2.75em;
  background: var(--breaking-red);
  color: var(--breaking-ink);
  overflow: hidden;
}
.label {
  flex: none;
  display: flex;
  align-items: center;
  padding: 0 1em;
  background: var(--breaking-red-dark);
  font-weight: 800;
  letter-spacing: 0.06em;
  text-transform: uppercase;
}
.viewport {
  flex: 1;
  min-width: 0;
  display: flex;
  align-items: center;
  overflow: hidden;
}
.track {
  display: flex;
  gap: 2.5em;
  width: max-content;
  margin: 0;
  padding: 0;
  padding-inline-start: 100%;
  list-style: none;
  white-space: nowrap;
  animation: scroll-ltr var(--breaking-duration, 30s) linear infinite;
}
.bar[dir="rtl"] .track { animation-name: scroll-rtl; }
@keyframes scroll-ltr { from { transform: translateX(0); } to { transform: translateX(-100%); } }
@keyframes scroll-rtl { from { transform: translateX(0); } to { transform: translateX(100%); } }
.viewport:hover .track,
.viewport:focus-within .track,
:host([paused]) .track { animation-play-state: paused; }
.item::before {
  content: "";
  display: inline-block;
  width: 0.45em;
  height: 0.45em;
  margin-inline-end: 0.6em;
  border-radius: 50%;
  background: currentColor;
  vertical-align: 0.15em;
  opacity: 0.8;
}
.item[data-priority="flash"] { font-weight: 700; }
.item[data-priority="flash"]::before { background: #ffd23f; opacity: 1; }
.item[data-priority="update"] { opacity: 0.9; }
a { color: inherit; text-decoration: none; }
a:hover { text-decoration: underline; }
a:focus-visible { outline: 2px solid var(--breaking-ink); outline-offset: 2px; border-radius: 2px; }
.empty { margin: 0 1em; opacity: 0.85; font-style: italic; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
:host(:not([empty])) .empty, :host([empty]) .track { display: none; }
.controls { flex: none; display: flex; align-items: center; gap: 0.5em; padding: 0 0.75em; }
.toggle {
  font: inherit;
  font-size: 0.8em;
  color: inherit;
  background: transparent;
  border: 1px solid rgb(255 255 255 / 0.6);
  border-radius: 3px;
  padding: 0.15em 0.6em;
  cursor: pointer;
}
.toggle:focus-visible { outline: 2px solid var(--breaking-ink); outline-offset: 2px; }
.state { font-size: 0.8em; display: inline-flex; align-items: center; gap: 0.35em; white-space: nowrap; }
.state::before {
  content: "";
  width: 0.55em;
  height: 0.55em;
  border-radius: 50%;
  background: #ffd23f;
}
:host([state="live"]) .state::before { background: #7CFC9A; animation: pulse 2s ease-in-out infinite; }
:host([state="refused"]) .state::before { background: #fff; border-radius: 0; }
.updated {
  display: inline-block;
  margin-inline-end: 0.5em;
  padding: 0 0.35em;
  border: 1px solid currentColor;
  border-radius: 3px;
  font-size: 0.75em;
  font-weight: 700;
  letter-spacing: 0.04em;
  text-transform: uppercase;
  vertical-align: 0.1em;
}
@keyframes pulse { 50% { opacity: 0.35; } }
.sr-only {
  position: absolute;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip-path: inset(50%);
  white-space: nowrap;
}
@media (prefers-reduced-motion: reduce) {
  .track { animation: none; padding-inline-start: 0.25em; }
  .viewport { overflow-x: auto; }
  .toggle { display: none; }
  :host([state="live"]) .state::before { animation: none; }
}
`;

/** @type {CSSStyleSheet | null} */
let sheet = null;
// One constructed sheet shared by every ticker; allowed under a strict CSP (no inline <style>).
function styles() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES);
  }
  return sheet;
}

/**
 * Only http(s) links are followed; anything else (javascript:, data:) is dropped.
 * @param {string | undefined} url
 * @returns {string | null}
 */
export function safeHref(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/**
 * The BREAKING ticker.
 *
 * Attributes: `region` (comma-separated), `language`, `category`, `priority`
 * (minimum), `server` (default: where this script came from), `transport`
 * (auto | ws | sse), `limit` (default 10), `speed` (pixels per second, default 70),
 * `offline` (no connection: set `alerts` yourself, as the desk's preview does).
 * State it reflects: `state` (connecting | live | reconnecting), `via` (ws | sse), `empty`.
 */
export class BreakingTicker extends HTMLElement {
  static observedAttributes = ["region", "language", "category", "priority", "limit", "speed", "paused"];

  /** @type {BreakingEvent[]} what an `offline` ticker shows */
  #offlineAlerts = [];
  /** @type {BreakingClient | null} */ #client = null;
  #autoDir = false;
  #ownsClient = false;
  /** @type {AbortController | null} */ #listening = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #expiryTimer;
  /** @type {ResizeObserver | null} */ #resize = null;
  #root;
  #bar;
  #label;
  #viewport;
  #track;
  #empty;
  #toggle;
  #state;
  #announcer;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.adoptedStyleSheets = [styles()];
    this.#bar = this.#make("div", "bar", { part: "bar" });
    this.#label = this.#make("strong", "label", { part: "label" });
    this.#viewport = this.#make("div", "viewport", { role: "marquee" });
    this.#track = this.#make("ul", "track", { part: "track" });
    this.#empty = this.#make("p", "empty");
    const controls = this.#make("div", "controls");
    this.#toggle = this.#make("button", "toggle", { type: "button", "aria-pressed": "false" });
    this.#state = this.#make("span", "state", { part: "state", role: "status" });
    // The scrolling text is not live (it would be read again and again); new alerts are
    // announced once, politely, from this hidden region instead.
    this.#announcer = this.#make("div", "sr-only", { "aria-live": "polite" });
    this.#viewport.append(this.#track, this.#empty);
    controls.append(this.#toggle, this.#state);
    this.#bar.append(this.#label, this.#viewport, controls);
    this.#root.append(this.#bar, this.#announcer);
    this.#toggle.addEventListener("click", () => this.toggleAttribute("paused"));
  }

  connectedCallback() {
    this.#applyLanguage();
    this.#learnDirections();
    this.#resize ??= new ResizeObserver(() => this.#retime());
    this.#resize.observe(this.#viewport);
    if (!this.#client && !this.hasAttribute("offline")) {
      this.#attach(
        new BreakingClient({
          server: this.getAttribute("server") ?? DEFAULT_SERVER,
          filter: this.#filter(),
          transport: /** @type {any} */ (this.getAttribute("transport") ?? "auto"),
        }),
        true,
      );
    } else if (this.#client && !this.#listening) {
      this.#attach(this.#client, this.#ownsClient);
    }
    this.#render();
  }

  disconnectedCallback() {
    this.#listening?.abort();
    this.#listening = null;
    this.#resize?.disconnect();
    clearTimeout(this.#expiryTimer);
    if (this.#ownsClient) {
      this.#client?.stop();
      this.#client = null;
    }
  }

  /**
   * @param {string} name
   * @param {string | null} before
   * @param {string | null} after
   */
  attributeChangedCallback(name, before, after) {
    if (before === after) return;
    if (name === "paused") {
      this.#syncToggle();
      return;
    }
    if (name === "language") this.#applyLanguage();
    if (["region", "language", "category", "priority"].includes(name) && this.#ownsClient) {
      this.#client?.setFilter(this.#filter());
    }
    this.#render();
  }

  /**
   * Share one connection between several tickers: each filters locally.
   * @param {BreakingClient} client  A client the page starts and stops itself.
   */
  set client(client) {
    this.#listening?.abort();
    this.#listening = null;
    if (this.#ownsClient) this.#client?.stop();
    this.#ownsClient = false;
    this.#client = client;
    if (this.isConnected) this.#attach(client, false);
    this.#render();
  }

  /** @returns {BreakingClient | null} */
  get client() {
    return this.#client;
  }

  /** @returns {BreakingEvent[]} The alerts shown, newest first. */
  get alerts() {
    return this.#visible();
  }

  /** @param {BreakingEvent[]} alerts  What an `offline` ticker shows (the desk's preview). */
  set alerts(alerts) {
    this.#offlineAlerts = [...alerts];
    this.#render();
  }

  /**
   * @param {BreakingClient} client
   * @param {boolean} owns
   */
  #attach(client, owns) {
    this.#client = client;
    this.#ownsClient = owns;
    const controller = new AbortController();
    this.#listening = controller;
    const on = (/** @type {string} */ type, /** @type {(detail: any) => void} */ handler) =>
      client.addEventListener(type, (event) => handler(/** @type {CustomEvent} */ (event).detail), {
        signal: controller.signal,
      });
    // The client keeps the live state; the ticker redraws from it and announces what is new.
    on("reset", () => this.#render());
    on("alert", (alert) => {
      this.#render(true);
      if (this.#shows(alert)) this.#announce(alert.headline);
    });
    on("correction", (correction) => {
      this.#render();
      if (this.#shows(correction)) this.#announce(`${this.#text().corrected}: ${correction.headline}`);
    });
    on("retraction", () => this.#render());
    on("status", ({ status, transport, cause }) => this.#showState(status, transport, cause));
    this.#showState(client.status, client.transport, client.cause);
    if (owns) client.start();
  }

  // The node's own list of right-to-left languages; the built-in guess stands if it is unreachable.
  #learnDirections() {
    if (this.hasAttribute("offline")) return;
    fetchMeta(this.#client?.server ?? this.getAttribute("server") ?? DEFAULT_SERVER).then(
      (meta) => {
        for (const { code, dir } of meta.languages) {
          if (dir === "rtl") RTL_LANGUAGES.add(code);
          else RTL_LANGUAGES.delete(code);
        }
        this.#applyLanguage();
        this.#render();
      },
      () => {},
    );
  }

  /** @returns {Filter} */
  #filter() {
    return normaliseFilter({
      region: (this.getAttribute("region") ?? "").split(","),
      language: this.getAttribute("language") ?? undefined,
      category: this.getAttribute("category") ?? undefined,
      priority: /** @type {any} */ (this.getAttribute("priority") ?? undefined),
    });
  }

  /** @param {BreakingEvent} event */
  #shows(event) {
    return this.#visible().some((alert) => alert.alert_id === event.alert_id);
  }

  /** @returns {BreakingEvent[]} all live alerts this ticker could show, newest first */
  #all() {
    if (!this.#client) return [...this.#offlineAlerts].sort((a, b) => compareIds(b.alert_id, a.alert_id));
    // A shared client may follow more than this ticker does: filter again here.
    const filter = this.#filter();
    return this.#client.alerts.filter((alert) => matches(alert, filter));
  }

  /** @returns {BreakingEvent[]} */
  #visible() {
    const now = Date.now();
    const limit = Number(this.getAttribute("limit") ?? 10) || 10;
    return this.#all()
      .filter((alert) => Date.parse(alert.expires_at) > now)
      .slice(0, limit);
  }

  /** @returns {Language} */
  #language() {
    const lang = (this.getAttribute("language") || this.closest("[lang]")?.getAttribute("lang") || "en")
      .slice(0, 2)
      .toLowerCase();
    return lang in TEXT ? /** @type {Language} */ (lang) : "en";
  }

  #text() {
    return TEXT[this.#language()];
  }

  #applyLanguage() {
    const language = this.#language();
    const text = TEXT[language];
    const dir = RTL_LANGUAGES.has(language) ? "rtl" : "ltr";
    // The author's own `dir` wins; otherwise the edition's language decides.
    if (!this.hasAttribute("dir") || this.#autoDir) {
      this.setAttribute("dir", dir);
      this.#autoDir = true;
    }
    this.#bar.setAttribute("dir", this.getAttribute("dir") ?? dir);
    this.#bar.setAttribute("lang", language);
    this.#label.textContent = text.label;
    this.#viewport.setAttribute("aria-label", text.name);
    this.#empty.textContent = text.empty;
    this.#syncToggle();
    if (this.#client) this.#showState(this.#client.status, this.#client.transport, this.#client.cause);
  }

  #syncToggle() {
    const paused = this.hasAttribute("paused");
    this.#toggle.textContent = paused ? this.#text().play : this.#text().pause;
    this.#toggle.setAttribute("aria-pressed", String(paused));
  }

  /**
   * @param {string} status
   * @param {string | null} transport
   * @param {string | null} [cause]  Why it cannot connect, when the client can tell.
   */
  #showState(status, transport, cause = null) {
    const text = this.#text();
    /** @type {"live" | "connecting" | "reconnecting" | "refused"} */
    const state =
      status === "live"
        ? "live"
        : cause === "origin-not-allowed"
          ? "refused"
          : status === "connecting" || status === "idle"
            ? "connecting"
            : "reconnecting";
    this.setAttribute("state", state);
    if (transport) this.setAttribute("via", transport);
    this.#state.textContent = text[state];
  }

  /** @param {boolean} [fromStart]  A new alert restarts the scroll so it is seen first. */
  #render(fromStart = false) {
    this.#syncToggle();
    const alerts = this.#visible();
    /** @type {Map<string, HTMLLIElement>} */
    const existing = new Map();
    for (const li of /** @type {NodeListOf<HTMLLIElement>} */ (this.#track.querySelectorAll("li"))) {
      existing.set(li.dataset.alertId ?? "", li);
    }
    const items = alerts.map((alert) => this.#item(alert, existing.get(alert.alert_id)));
    this.#track.replaceChildren(...items);
    this.toggleAttribute("empty", items.length === 0);
    this.#retime();
    if (fromStart) for (const animation of this.#track.getAnimations()) animation.currentTime = 0;
    this.#scheduleExpiry();
  }

  /**
   * Build or update one item; headlines go in as text, never as markup.
   * @param {BreakingEvent} alert
   * @param {HTMLLIElement | undefined} li
   */
  #item(alert, li) {
    const item = li ?? document.createElement("li");
    item.className = "item";
    item.dataset.alertId = alert.alert_id;
    item.dataset.priority = alert.priority;
    item.lang = alert.language;
    item.dir = RTL_LANGUAGES.has(alert.language) ? "rtl" : "ltr";
    item.title = [alert.source, new Date(alert.published_at).toLocaleString(alert.language)]
      .filter(Boolean)
      .join(" · ");
    const href = safeHref(alert.url);
    let holder = item.querySelector(".headline");
    if (!holder || holder.localName !== (href ? "a" : "span")) {
      holder = document.createElement(href ? "a" : "span");
      holder.className = "headline";
    }
    if (href) holder.setAttribute("href", href);
    holder.textContent = alert.headline ?? "";
    // A corrected alert says so, visibly, in the edition's language.
    if (alert.corrected) {
      const mark = document.createElement("span");
      mark.className = "updated";
      mark.setAttribute("part", "updated");
      mark.textContent = this.#text().updated;
      item.replaceChildren(mark, holder);
    } else {
      item.replaceChildren(holder);
    }
    return item;
  }

  // Constant speed whatever the length: the duration follows the track's width.
  #retime() {
    const speed = Number(this.getAttribute("speed") ?? 70) || 70;
    const seconds = Math.max(8, this.#track.scrollWidth / speed);
    this.#track.style.setProperty("--breaking-duration", `${seconds.toFixed(1)}s`);
  }

  // One timer per ticker, set for the soonest expiry among what it shows.
  #scheduleExpiry() {
    clearTimeout(this.#expiryTimer);
    const next = Math.min(...this.#visible().map((alert) => Date.parse(alert.expires_at)));
    if (!Number.isFinite(next)) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now()));
    this.#expiryTimer = setTimeout(() => this.#render(), delay);
  }

  /** @param {string | undefined} headline */
  #announce(headline) {
    if (headline) this.#announcer.textContent = `${this.#text().label}: ${headline}`;
  }

  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string} className
   * @param {Record<string, string>} [attributes]
   * @returns {HTMLElementTagNameMap[K]}
   */
  #make(tag, className, attributes = {}) {
    const element = document.createElement(tag);
    element.className = className;
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
    return element;
  }
}

if (!customElements.get("breaking-ticker")) customElements.define("breaking-ticker", BreakingTicker);

// breaking-push browser client: WebSocket first, SSE fallback, resume by event id.
// Dependency-free ES module; no build step. See docs/CLIENTS.md.

/**
 * @typedef {"alert" | "correction" | "retraction"} EventType
 * @typedef {"update" | "breaking" | "flash"} Priority
 *
 * @typedef {object} BreakingEvent  The event JSON, the same on every transport.
 * @property {string} id             Event id "<ms>-<seq>", strictly increasing.
 * @property {EventType} type
 * @property {string} alert_id       The alert this event is about (its own id for an alert).
 * @property {string} [headline]     Absent on a retraction.
 * @property {string} [reason]       Retractions only.
 * @property {string[]} regions
 * @property {"en" | "ar" | "es"} language
 * @property {string} [category]
 * @property {Priority} priority
 * @property {string} [source]
 * @property {string} [url]
 * @property {string} published_at   ISO 8601 UTC.
 * @property {string} expires_at     ISO 8601 UTC.
 * @property {boolean} [corrected]   Live alerts only: a correction changed the headline.
 * @property {string} [original_headline]  Live alerts only: what a corrected alert first said.
 *
 * @typedef {object} Filter  What to follow; absent fields mean "any".
 * @property {string[]} [region]     Any of these regions.
 * @property {string} [language]
 * @property {string} [category]
 * @property {Priority} [priority]   Minimum priority.
 *
 * @typedef {"idle" | "connecting" | "live" | "reconnecting" | "stopped"} Status
 * @typedef {"origin-not-allowed" | null} Cause  Why the client cannot connect, when it can tell.
 *
 * @typedef {object} Meta  `GET /v1/meta`: the service's vocabulary.
 * @property {{slug: string, names: Record<string, string>}[]} regions
 * @property {{code: string, dir: "ltr" | "rtl", name: string}[]} languages
 * @property {{slug: string, names: Record<string, string>}[]} categories
 * @property {{slug: string, names: Record<string, string>}[]} priorities
 * @typedef {"auto" | "ws" | "sse"} TransportChoice
 * @typedef {"initial" | "server" | "filter" | "resync"} SnapshotReason
 *   Why a `reset` came: first paint, the server lost our place, a new filter,
 *   or a reconnect with no event id to resume from.
 *
 * @typedef {object} ClientOptions
 * @property {string} [server]        Base URL of the service; default: the page's origin.
 * @property {Filter} [filter]
 * @property {TransportChoice} [transport]  "auto" (default) tries WebSocket, then SSE.
 * @property {number} [limit]         Alerts fetched for first paint (default 50).
 * @property {number} [backoffBaseMs] First reconnect ceiling (default 500).
 * @property {number} [backoffMaxMs]  Largest reconnect ceiling (default 30000).
 * @property {number} [readyTimeoutMs] A connection that is not ready this long counts as failed; a
 *   WebSocket that fails so is taken as blocked (default 15000: three times the node's 5 s catch-up wait).
 * @property {number} [wsRetryMs]     How long "WebSocket is blocked here" holds before WebSocket is tried
 *   again (default 300000); an `online` event ends it at once.
 * @property {number} [firstPaintTimeoutMs] A first-paint `GET /v1/alerts` slower than this is aborted
 *   and tried again (default 10000).
 * @property {number} [heldMax]       Events held while the first paint loads; past this the hold is
 *   dropped and the listing loaded again (default 1000).
 */

const PRIORITY_RANK = { update: 0, breaking: 1, flash: 2 };
// Enough to catch any replay overlap; ids are also checked against the last id seen.
const SEEN_IDS_KEPT = 2048;
// Live alerts kept in memory; the oldest go first beyond this.
const LIVE_ALERTS_KEPT = 500;
// Until the node's first heartbeat says its interval, assume the node's default.
const DEFAULT_HEARTBEAT_MS = 15_000;
// A connection silent for this many heartbeat intervals is dead, whatever the socket says.
const SILENT_BEATS = 3;

/** @type {Map<string, Promise<Meta>>} */
const metaByServer = new Map();

/**
 * The service's vocabulary (regions with names, languages with direction, categories,
 * priorities), fetched once per server and shared by every caller on the page.
 * @param {string} [server]  Default: the page's origin.
 * @returns {Promise<Meta>}
 */
export function fetchMeta(server = globalThis.location?.origin ?? "") {
  const base = server.replace(/\/+$/, "");
  let meta = metaByServer.get(base);
  if (!meta) {
    meta = fetch(`${base}/v1/meta`, { headers: { Accept: "application/json" } }).then((response) => {
      if (!response.ok) throw new Error(`GET /v1/meta answered ${response.status}`);
      return response.json();
    });
    // A failed fetch is not cached: the next caller tries again.
    meta.catch(() => metaByServer.delete(base));
    metaByServer.set(base, meta);
  }
  return meta;
}

/**
 * Compare two event ids as (milliseconds, sequence) pairs, never as strings.
 * @param {string} a
 * @param {string} b
 * @returns {number} negative, zero or positive
 */
export function compareIds(a, b) {
  const [am, as] = a.split("-").map(Number);
  const [bm, bs] = b.split("-").map(Number);
  return am - bm || as - bs;
}

/**
 * Whether an event or alert passes a filter, with the server's rules.
 * @param {BreakingEvent} event
 * @param {Filter} filter
 * @returns {boolean}
 */
export function matches(event, filter) {
  const regions = filter.region ?? [];
  return (
    (regions.length === 0 || event.regions.some((r) => regions.includes(r))) &&
    (!filter.language || event.language === filter.language) &&
    (!filter.category || event.category === filter.category) &&
    (!filter.priority || PRIORITY_RANK[event.priority] >= PRIORITY_RANK[filter.priority])
  );
}

/**
 * Normalise a filter: regions as a clean list, empty values dropped.
 * @param {Filter | undefined} filter
 * @returns {Filter}
 */
export function normaliseFilter(filter) {
  /** @type {Filter} */
  const out = {};
  const regions = (filter?.region ?? []).flatMap((r) => r.split(",")).map((r) => r.trim());
  if (regions.some(Boolean)) out.region = [...new Set(regions.filter(Boolean))];
  for (const key of /** @type {const} */ (["language", "category", "priority"])) {
    const value = filter?.[key];
    if (value) out[key] = /** @type {any} */ (value);
  }
  return out;
}

/**
 * Held corrections the first-paint listing already shows: for each listed alert, the last held
 * correction whose headline it carries and every held correction of that alert before it.
 * Emitting them would announce again what the first paint shows, and an earlier one would
 * briefly put back a headline the listing had already replaced.
 * @param {BreakingEvent[]} held
 * @param {BreakingEvent[]} alerts
 * @returns {Set<BreakingEvent>}
 */
function correctionsShown(held, alerts) {
  const headlines = new Map(alerts.map((alert) => [alert.alert_id, alert.headline]));
  /** @type {Map<string, number>} */
  const lastShown = new Map();
  held.forEach((event, index) => {
    if (event.type === "correction" && headlines.get(event.alert_id) === event.headline) {
      lastShown.set(event.alert_id, index);
    }
  });
  return new Set(
    held.filter((event, index) => event.type === "correction" && index <= (lastShown.get(event.alert_id) ?? -1)),
  );
}

/**
 * A live feed of breaking-news events.
 *
 * Events dispatched (all `CustomEvent`s, payload in `detail`):
 * - `alert`, `correction`, `retraction`: detail is the {@link BreakingEvent}.
 * - `reset`: detail `{alerts, reason}`; replace everything shown with `alerts`
 *   (live alerts, newest first). Fired for first paint, after the server's
 *   `reset` (history lost) and after `setFilter()`.
 * - `status`: detail `{status, transport, attempt, delayMs, cause}`; `cause` is
 *   "origin-not-allowed" when the node refuses this page's origin (also logged once
 *   to the console), else null.
 * - `heartbeat`: detail `{every}` (seconds); the node is there and says how often it will say so.
 * - `error`: detail is a problem+json object (e.g. a rejected filter).
 */
export class BreakingClient extends EventTarget {
  /** @type {string} */ #server;
  /** @type {Filter} */ #filter;
  /** @type {TransportChoice} */ #choice;
  /** @type {number} */ #limit;
  /** @type {number} */ #backoffBase;
  /** @type {number} */ #backoffMax;
  /** @type {number} */ #readyTimeout;
  /** @type {number} */ #wsRetry;
  /** @type {number} */ #firstPaintTimeout;
  /** @type {number} */ #heldMax;

  /** @type {Status} */ #status = "idle";
  /** @type {"ws" | "sse" | null} */ #transport = null;
  /** @type {WebSocket | null} */ #ws = null;
  /** @type {EventSource | null} */ #sse = null;
  // Bumped on every (re)connect so callbacks of a dead connection are ignored.
  #generation = 0;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #retryTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #readyTimer;
  /** @type {string | null} */ #lastEventId = null;
  /** @type {Set<string>} */ #seen = new Set();
  /** @type {Set<string>} */ #snapshotAlertIds = new Set();
  /** @type {Map<string, BreakingEvent>} live alerts by alert id, corrections applied */
  #live = new Map();
  // Events that arrive while the snapshot is loading are held, then applied after it.
  /** @type {BreakingEvent[] | null} */ #held = null;
  #needSnapshot = false;
  /** @type {SnapshotReason} */ #snapshotReason = "initial";
  #wsBlocked = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #wsRetryTimer;
  // Liveness: when the connection last said anything, and how often the node promised to.
  #heardAt = 0;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #livenessTimer;
  /** @type {AbortController | null} */ #firstPaint = null;
  #fallingBack = false;
  /** @type {Cause} */ #cause = null;
  #diagnosing = false;
  #explained = false;
  /** @type {Filter | null} */ #pendingFilter = null;
  /** @type {Filter | null} */ #previousFilter = null;
  #onOnline = () => {
    const waiting = this.#status === "reconnecting";
    // A new network may well let WebSocket through.
    this.#unblockWs();
    if (waiting) this.#reconnectNow();
  };

  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    super();
    this.#server = (options.server ?? globalThis.location?.origin ?? "").replace(/\/+$/, "");
    this.#filter = normaliseFilter(options.filter);
    this.#choice = options.transport ?? "auto";
    this.#limit = options.limit ?? 50;
    this.#backoffBase = options.backoffBaseMs ?? 500;
    this.#backoffMax = options.backoffMaxMs ?? 30_000;
    this.#readyTimeout = options.readyTimeoutMs ?? 15_000;
    this.#wsRetry = options.wsRetryMs ?? 300_000;
    this.#firstPaintTimeout = options.firstPaintTimeoutMs ?? 10_000;
    this.#heldMax = options.heldMax ?? 1_000;
  }

  /** @returns {Status} */
  get status() {
    return this.#status;
  }

  /** @returns {"ws" | "sse" | null} The transport of the current connection. */
  get transport() {
    return this.#transport;
  }

  /** @returns {Cause} Why the client cannot connect, when it can tell. */
  get cause() {
    return this.#cause;
  }

  /** @returns {string | null} The id of the last event received (where a reconnect resumes). */
  get lastEventId() {
    return this.#lastEventId;
  }

  /** @returns {Filter} A copy of the filter in force. */
  get filter() {
    return structuredClone(this.#filter);
  }

  /** @returns {BreakingEvent[]} The live alerts, newest first: corrections applied, retracted and expired ones gone. */
  get alerts() {
    const now = Date.now();
    for (const [id, alert] of this.#live) if (Date.parse(alert.expires_at) <= now) this.#live.delete(id);
    return [...this.#live.values()].sort((a, b) => compareIds(b.alert_id, a.alert_id));
  }

  /** @returns {string} */
  get server() {
    return this.#server;
  }

  /** Connect (idempotent). */
  start() {
    if (this.#status !== "idle" && this.#status !== "stopped") return;
    globalThis.addEventListener?.("online", this.#onOnline);
    this.#requestSnapshot("initial");
    this.#setStatus("connecting");
    this.#connect();
  }

  /** Disconnect and stop reconnecting. */
  stop() {
    globalThis.removeEventListener?.("online", this.#onOnline);
    this.#teardown();
    // A snapshot still loading must not land after stop().
    this.#generation++;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#wsRetryTimer);
    this.#transport = null;
    this.#setStatus("stopped");
  }

  /**
   * Follow other regions/language/category/priority. Over WebSocket this sends a
   * `subscribe` op on the open connection; over SSE it reconnects. Either way a
   * `reset` with the new filter's live alerts follows.
   * @param {Filter} filter
   */
  setFilter(filter) {
    const next = normaliseFilter(filter);
    this.#previousFilter = this.#filter;
    this.#filter = next;
    this.#requestSnapshot("filter");
    if (this.#status === "idle" || this.#status === "stopped") return;
    if (this.#transport === "ws" && this.#ws?.readyState === WebSocket.OPEN && this.#status === "live") {
      this.#pendingFilter = next;
      this.#held = [];
      this.#ws.send(JSON.stringify({ op: "subscribe", ...next }));
      return;
    }
    this.#reconnectNow();
  }

  #connect() {
    this.#teardown();
    const generation = ++this.#generation;
    const useSse =
      this.#choice === "sse" ||
      (this.#choice === "auto" && (this.#wsBlocked || this.#fallingBack || !globalThis.WebSocket));
    this.#transport = useSse ? "sse" : "ws";
    if (useSse) this.#openSse(generation);
    else this.#openWs(generation);
  }

  /** @param {number} generation */
  #openWs(generation) {
    let ws;
    try {
      ws = new WebSocket(this.#url("/v1/ws", true).replace(/^http/, "ws"));
    } catch {
      // A constructor that throws (CSP, bad URL) is a blocked WebSocket.
      this.#lost(generation, false);
      return;
    }
    this.#ws = ws;
    let ready = false;
    // Not ws.close(): on a dead path its closing handshake could wait as long again.
    this.#readyTimer = setTimeout(() => this.#lost(generation, false), this.#readyTimeout);
    ws.onmessage = (message) => {
      if (generation !== this.#generation) return;
      this.#heard();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.event === "ready") {
        ready = true;
        clearTimeout(this.#readyTimer);
        this.#onReady(generation, frame.id);
      } else if (frame.event === "error") {
        this.#rejectFilter(frame.data);
      } else if (frame.event === "reset") {
        this.#serverReset(generation);
      } else if (frame.event === "heartbeat") {
        this.#heartbeat(frame.data);
      } else {
        this.#receive(generation, frame.data);
      }
    };
    ws.onclose = () => {
      clearTimeout(this.#readyTimer);
      this.#lost(generation, ready);
    };
  }

  /** @param {number} generation */
  #openSse(generation) {
    const source = new EventSource(this.#url("/v1/events", true));
    this.#sse = source;
    let opened = false;
    // An EventSource on a dead path neither opens nor fails: give up on it as on a WebSocket.
    this.#readyTimer = setTimeout(() => this.#lost(generation, false), this.#readyTimeout);
    source.onopen = () => {
      opened = true;
      clearTimeout(this.#readyTimer);
      this.#onReady(generation, null);
    };
    for (const type of ["alert", "correction", "retraction"]) {
      source.addEventListener(type, (message) => {
        if (generation !== this.#generation) return;
        this.#heard();
        try {
          this.#receive(generation, JSON.parse(/** @type {MessageEvent} */ (message).data));
        } catch {
          // A malformed frame is skipped; ids keep the stream consistent.
        }
      });
    }
    source.addEventListener("reset", () => {
      if (generation !== this.#generation) return;
      this.#heard();
      this.#serverReset(generation);
    });
    source.addEventListener("heartbeat", (message) => {
      if (generation !== this.#generation) return;
      this.#heard();
      try {
        this.#heartbeat(JSON.parse(/** @type {MessageEvent} */ (message).data));
      } catch {
        // A heartbeat that does not parse still showed the connection is alive.
      }
    });
    // EventSource would retry on its own with a fixed delay and the browser's id;
    // closing and reconnecting here gives backoff with jitter and our own resume id.
    source.onerror = () => this.#lost(generation, opened);
  }

  /**
   * @param {number} generation
   * @param {string | null} position  The server's current id (WebSocket `ready`).
   */
  #onReady(generation, position) {
    if (generation !== this.#generation) return;
    this.#attempt = 0;
    this.#fallingBack = false;
    this.#cause = null;
    if (this.#transport === "sse" && this.#choice === "auto" && !this.#wsBlocked) {
      // WebSocket failed but the server answers: something in between blocks it, for now.
      this.#wsBlocked = true;
      this.#wsRetryTimer = setTimeout(() => this.#unblockWs(), this.#wsRetry);
    }
    this.#heard();
    this.#watch(generation);
    if (this.#pendingFilter) {
      this.#pendingFilter = null;
      this.#previousFilter = null;
    }
    if (position && (!this.#lastEventId || compareIds(position, this.#lastEventId) > 0)) {
      this.#lastEventId = position;
    }
    this.#setStatus("live");
    if (this.#needSnapshot) void this.#loadSnapshot(generation);
  }

  // ---- Liveness: a connection that says nothing for SILENT_BEATS heartbeats is dead. ----

  #heard() {
    this.#heardAt = Date.now();
  }

  /** @param {{every?: unknown} | null | undefined} data  The node's heartbeat: `{every}` in seconds. */
  #heartbeat(data) {
    const every = Number(data?.every);
    if (Number.isFinite(every) && every > 0 && every * 1000 !== this.#heartbeatMs) {
      this.#heartbeatMs = every * 1000;
      // The watch was set for the old interval: set it again for this one.
      this.#watch(this.#generation);
    }
    this.#emit("heartbeat", { every: this.#heartbeatMs / 1000 });
  }

  /**
   * One timer per connection, not one per frame: when it fires it looks at when the
   * connection last spoke, and either declares it dead or waits out the remainder.
   * @param {number} generation
   */
  #watch(generation) {
    clearTimeout(this.#livenessTimer);
    const check = () => {
      if (generation !== this.#generation) return;
      const left = this.#heardAt + SILENT_BEATS * this.#heartbeatMs - Date.now();
      // A half-open connection (a laptop woke up, a NAT forgot us) never errors on its own.
      if (left <= 0) this.#lost(generation, true);
      else this.#livenessTimer = setTimeout(check, left);
    };
    this.#livenessTimer = setTimeout(check, SILENT_BEATS * this.#heartbeatMs);
  }

  // The "WebSocket is blocked here" decision expires: a page open for hours tries again.
  #unblockWs() {
    clearTimeout(this.#wsRetryTimer);
    if (!this.#wsBlocked) return;
    this.#wsBlocked = false;
    if (this.#status === "live" && this.#transport === "sse" && this.#choice === "auto") this.#reconnectNow();
  }

  // ---- end of liveness ----

  /** @param {number} generation */
  #serverReset(generation) {
    if (generation !== this.#generation) return;
    this.#lastEventId = null;
    this.#seen.clear();
    this.#requestSnapshot("server");
    // On WebSocket `reset` precedes `ready`; over SSE the stream is already open.
    if (this.#status === "live") void this.#loadSnapshot(generation);
  }

  /** @param {SnapshotReason} reason */
  #requestSnapshot(reason) {
    this.#needSnapshot = true;
    this.#snapshotReason = reason;
  }

  /** @param {number} generation */
  async #loadSnapshot(generation) {
    const reason = this.#snapshotReason;
    this.#needSnapshot = false;
    this.#held ??= [];
    // Bounded: a listing that hangs is aborted and tried again, never waited on for good.
    this.#firstPaint?.abort();
    const firstPaint = new AbortController();
    this.#firstPaint = firstPaint;
    const timer = setTimeout(() => firstPaint.abort(), this.#firstPaintTimeout);
    /** @type {BreakingEvent[]} */
    let alerts;
    try {
      const query = this.#query();
      query.set("limit", String(this.#limit));
      const response = await fetch(`${this.#server}/v1/alerts?${query}`, {
        headers: { Accept: "application/json" },
        signal: firstPaint.signal,
      });
      if (!response.ok) throw new Error(`GET /v1/alerts answered ${response.status}`);
      alerts = (await response.json()).alerts;
    } catch {
      // Superseded (a reload after the hold overflowed, or a teardown): the newer one goes on.
      if (generation !== this.#generation || firstPaint !== this.#firstPaint) return;
      // Without first paint the view would be wrong: reconnect and try again.
      this.#needSnapshot = true;
      this.#held = null;
      this.#lost(generation, true);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (generation !== this.#generation || firstPaint !== this.#firstPaint) return;
    this.#firstPaint = null;
    this.#snapshotAlertIds = new Set(alerts.map((alert) => alert.alert_id));
    this.#live = new Map(alerts.map((alert) => [alert.alert_id, alert]));
    const held = this.#held ?? [];
    this.#held = null;
    this.#emit("reset", { alerts, reason });
    const shown = correctionsShown(held, alerts);
    // Held events may predate a filter change: only the new filter's are applied.
    for (const event of held) {
      if (!matches(event, this.#filter)) continue;
      if (!shown.has(event)) {
        this.#deliver(event);
      } else if (!this.#lastEventId || compareIds(event.id, this.#lastEventId) > 0) {
        // Already on screen: it moves our place and says nothing.
        this.#remember(event.id);
        this.#lastEventId = event.id;
      }
    }
  }

  /**
   * @param {number} generation
   * @param {BreakingEvent} event
   */
  #receive(generation, event) {
    if (generation !== this.#generation || !event?.id) return;
    if (!this.#held) {
      this.#deliver(event);
    } else if (this.#held.length < this.#heldMax || !this.#firstPaint) {
      this.#held.push(event);
    } else {
      // Too much happened while the listing loaded: a fresh listing, asked for now, shows all of it.
      this.#held = [];
      void this.#loadSnapshot(generation);
    }
  }

  /** @param {BreakingEvent} event */
  #deliver(event) {
    // Nothing shown twice: a replay overlap or an alert already in the snapshot is dropped.
    if (this.#seen.has(event.id)) return;
    if (this.#lastEventId && compareIds(event.id, this.#lastEventId) <= 0) return;
    if (event.type === "alert" && this.#snapshotAlertIds.has(event.alert_id)) return;
    this.#remember(event.id);
    this.#lastEventId = event.id;
    this.#apply(event);
    this.#emit(event.type, event);
  }

  /** @param {BreakingEvent} event */
  #apply(event) {
    const alert = this.#live.get(event.alert_id);
    if (event.type === "alert") {
      this.#live.set(event.alert_id, event);
      if (this.#live.size > LIVE_ALERTS_KEPT) this.#live.delete(this.alerts.at(-1)?.alert_id ?? "");
    } else if (event.type === "correction" && alert) {
      const first = alert.original_headline ?? alert.headline;
      this.#live.set(event.alert_id, { ...alert, headline: event.headline, corrected: true, original_headline: first });
    } else if (event.type === "retraction") {
      this.#live.delete(event.alert_id);
    }
  }

  /** @param {string} id */
  #remember(id) {
    this.#seen.add(id);
    if (this.#seen.size > SEEN_IDS_KEPT) {
      this.#seen.delete(this.#seen.values().next().value ?? "");
    }
  }

  /** @param {any} problem */
  #rejectFilter(problem) {
    if (this.#previousFilter) {
      this.#filter = this.#previousFilter;
      this.#previousFilter = null;
      this.#pendingFilter = null;
      this.#needSnapshot = false;
      const held = this.#held ?? [];
      this.#held = null;
      for (const event of held) this.#deliver(event);
    }
    this.#emit("error", problem);
  }

  /**
   * @param {number} generation
   * @param {boolean} wasReady  Whether this connection got as far as live.
   */
  #lost(generation, wasReady) {
    if (generation !== this.#generation) return;
    // A snapshot still loading dies with its connection; the next one loads it again.
    if (this.#held) this.#needSnapshot = true;
    this.#teardown();
    this.#generation++;
    if (this.#status === "stopped") return;
    // A WebSocket that never became ready: try SSE straight away, no backoff.
    if (!wasReady && this.#transport === "ws" && this.#choice === "auto" && !this.#fallingBack) {
      this.#fallingBack = true;
      this.#connect();
      return;
    }
    // Neither transport answered (the server is down): WebSocket gets the next chance.
    this.#fallingBack = false;
    // Without a resume id (no event seen yet) only a fresh snapshot closes the gap.
    if (!this.#lastEventId && !this.#needSnapshot) this.#requestSnapshot("resync");
    // Full jitter: a restarted node is not stampeded by every reader at once.
    const ceiling = Math.min(this.#backoffMax, this.#backoffBase * 2 ** this.#attempt);
    const delayMs = Math.round(Math.random() * ceiling);
    this.#attempt++;
    this.#setStatus("reconnecting", delayMs);
    this.#retryTimer = setTimeout(() => this.#connect(), delayMs);
    if (!wasReady) void this.#diagnose();
  }

  /**
   * Neither transport opened. A browser hides why (a refused WebSocket handshake and an
   * EventSource without CORS look like a network error), so ask: if the public `/v1/meta`
   * answers this page but the CORS-guarded listing does not, the node refuses this origin.
   */
  async #diagnose() {
    if (this.#diagnosing || this.#cause) return;
    this.#diagnosing = true;
    try {
      const listed = await fetch(`${this.#server}/v1/alerts?limit=1`).then(() => true, () => false);
      if (listed) return;
      const reachable = await fetch(`${this.#server}/v1/meta`).then((response) => response.ok, () => false);
      if (!reachable || this.#status === "live" || this.#status === "stopped") return;
      this.#cause = "origin-not-allowed";
      if (!this.#explained) {
        this.#explained = true;
        console.error(
          `breaking-push: ${this.#server} refuses this page's origin (${globalThis.location?.origin}). ` +
            "Add it to BREAKING_ALLOWED_ORIGINS on the node; until then this client keeps retrying.",
        );
      }
      this.#setStatus(this.#status);
    } finally {
      this.#diagnosing = false;
    }
  }

  #reconnectNow() {
    if (this.#status === "idle" || this.#status === "stopped") return;
    clearTimeout(this.#retryTimer);
    this.#attempt = 0;
    this.#setStatus("reconnecting", 0);
    this.#connect();
  }

  #teardown() {
    clearTimeout(this.#readyTimer);
    clearTimeout(this.#livenessTimer);
    this.#firstPaint?.abort();
    this.#firstPaint = null;
    if (this.#ws) {
      this.#ws.onclose = this.#ws.onmessage = null;
      this.#ws.close();
      this.#ws = null;
    }
    if (this.#sse) {
      this.#sse.onerror = this.#sse.onopen = null;
      this.#sse.close();
      this.#sse = null;
    }
    this.#held = null;
  }

  /**
   * @param {string} path
   * @param {boolean} resume  Add `last_event_id` when there is one.
   */
  #url(path, resume) {
    const query = this.#query();
    if (resume && this.#lastEventId && !this.#needSnapshot) {
      query.set("last_event_id", this.#lastEventId);
    }
    const text = query.toString();
    return `${this.#server}${path}${text ? `?${text}` : ""}`;
  }

  /** The filter as query parameters: the same on `/v1/ws`, `/v1/events` and `/v1/alerts`. */
  #query() {
    const query = new URLSearchParams();
    if (this.#filter.region) query.set("region", this.#filter.region.join(","));
    for (const key of /** @type {const} */ (["language", "category", "priority"])) {
      const value = this.#filter[key];
      if (value) query.set(key, value);
    }
    return query;
  }

  /**
   * @param {Status} status
   * @param {number} [delayMs]
   */
  #setStatus(status, delayMs) {
    this.#status = status;
    this.#emit("status", { status, transport: this.#transport, attempt: this.#attempt, delayMs, cause: this.#cause });
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// "Notify me": subscribes this browser to the node's Web Push flash alerts, in the top ticker's
// language; a second click unsubscribes. Hidden when the browser or the node has no push.

const button = /** @type {HTMLButtonElement | null} */ (document.getElementById("notify"));
const state = /** @type {HTMLElement | null} */ (document.getElementById("notify-state"));

/** @param {string} text */
function base64UrlBytes(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** @param {boolean} on @param {string} [note] */
function render(on, note = "") {
  if (!button || !state) return;
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "Notifications on" : "Notify me";
  state.textContent = note;
}

/** @param {string} method @param {object} body */
function send(method, body) {
  return fetch("/v1/push/subscriptions", {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** @param {ServiceWorkerRegistration} registration @param {string} key */
async function toggle(registration, key) {
  const current = await registration.pushManager.getSubscription();
  if (current) {
    await send("DELETE", { endpoint: current.endpoint });
    await current.unsubscribe();
    render(false, "Notifications off");
    return;
  }
  if ((await Notification.requestPermission()) !== "granted") {
    render(false, "Notifications are blocked in this browser");
    return;
  }
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: base64UrlBytes(key),
  });
  const language = document.getElementById("edition-ticker")?.getAttribute("language") || undefined;
  const reply = await send("POST", { subscription: subscription.toJSON(), language, priority: "flash" });
  if (reply.ok) render(true, "You will be notified of flash alerts");
  else render(false, `Could not subscribe: ${(await reply.json()).detail}`);
}

async function setUp() {
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window)) return;
  const response = await fetch("/v1/push/key");
  if (!response.ok) return;
  const { public_key: key } = await response.json();
  const registration = await navigator.serviceWorker.register("/push-sw.js");
  render((await registration.pushManager.getSubscription()) !== null);
  button.hidden = false;
  button.addEventListener("click", () => {
    toggle(registration, key).catch((error) => render(false, `Could not subscribe: ${error.message}`));
  });
}

setUp();

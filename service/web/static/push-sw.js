// The node's Web Push service worker, served at /push-sw.js so its scope is the whole site.
// Each notification is tagged with its alert id: a correction replaces it, a retraction closes it.

/** @param {{type: string, alert_id: string, headline?: string, language?: string, dir?: string, url?: string, priority?: string}} message */
async function show(message) {
  const shown = await self.registration.getNotifications({ tag: message.alert_id });
  if (message.type === "retraction") {
    for (const notification of shown) notification.close();
    return;
  }
  // A correction carries no link of its own: it keeps the one its alert came with.
  const url = message.url || shown[0]?.data?.url || "/";
  await self.registration.showNotification(message.headline || "", {
    tag: message.alert_id,
    lang: message.language,
    dir: message.dir === "rtl" ? "rtl" : "ltr",
    renotify: message.type === "alert",
    requireInteraction: message.priority === "flash",
    data: { url, alert_id: message.alert_id, type: message.type },
  });
}

self.addEventListener("push", (event) => {
  let message;
  try {
    message = event.data?.json();
  } catch {
    return;
  }
  if (message?.alert_id) event.waitUntil(show(message));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || "/", self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => client.url === url);
      return open ? open.focus() : self.clients.openWindow(url);
    }),
  );
});

// What the Node peers share: the event they build from a posted alert, and the body reader.
"use strict";

let last = 0;
let seq = 0;

function alertEvent(alert) {
  const ms = Date.now();
  seq = ms === last ? seq + 1 : 0;
  last = ms;
  const id = `${ms}-${seq}`;
  const at = new Date(ms).toISOString();
  return { id, type: "alert", alert_id: id, ...alert, priority: "breaking", published_at: at };
}

// Answers POST /v1/alerts with 201 and the event after `publish(event)` resolves.
function publishHandler(publish) {
  return (req, res) => {
    if (req.method !== "POST" || req.url !== "/v1/alerts") return false;
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      const event = alertEvent(JSON.parse(Buffer.concat(chunks)));
      await publish(event);
      const body = JSON.stringify(event);
      res.writeHead(201, { "content-type": "application/json" }).end(body);
    });
    return true;
  };
}

module.exports = { publishHandler, env: { port: Number(process.env.PORT), redisUrl: process.env.REDIS_URL } };

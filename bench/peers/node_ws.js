// Node ws + node-redis: one Redis subscription per process, client.send() to each matching socket.
"use strict";
const http = require("node:http");
const { WebSocketServer } = require("ws");
const { createClient } = require("redis");
const { publishHandler, env } = require("./common");

async function main() {
  const pub = createClient({ url: env.redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const byRegion = new Map();
  await sub.subscribe("alerts", (message) => {
    const event = JSON.parse(message);
    const frame = JSON.stringify({ event: "alert", id: event.id, data: event });
    for (const region of event.regions) {
      for (const socket of byRegion.get(region) ?? []) socket.send(frame);
    }
  });
  const handle = publishHandler((event) => pub.publish("alerts", JSON.stringify(event)));
  const server = http.createServer((req, res) => handle(req, res) || res.writeHead(404).end());
  const wss = new WebSocketServer({ server, path: "/v1/ws", perMessageDeflate: false });
  wss.on("connection", (socket, req) => {
    const region = new URL(req.url, "http://peer").searchParams.get("region");
    if (!byRegion.has(region)) byRegion.set(region, new Set());
    byRegion.get(region).add(socket);
    socket.on("close", () => byRegion.get(region).delete(socket));
  });
  server.listen({ port: env.port, host: "127.0.0.1", backlog: 4096 });
}

main();

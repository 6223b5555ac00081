// Socket.IO with its Redis adapter: rooms per region, io.to(region).emit() per alert.
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
const { publishHandler, env } = require("./common");

async function main() {
  const pub = createClient({ url: env.redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  let io = null;
  const handle = publishHandler(async (event) => io.to(event.regions).emit("alert", event));
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith("/socket.io/")) handle(req, res) || res.writeHead(404).end();
  });
  io = new Server(server, { adapter: createAdapter(pub, sub), transports: ["websocket"] });
  io.on("connection", (socket) => socket.join(socket.handshake.query.region));
  server.listen({ port: env.port, host: "127.0.0.1", backlog: 4096 });
}

main();

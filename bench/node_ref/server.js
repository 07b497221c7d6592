// Node socket.io reference for bench/run.py: the same echo, Dowell-style join and room broadcast
// as bench/py_ref.py. Usage: PORT=9000 node server.js (listens on 127.0.0.1, prints "ready").
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const WELCOME = { data: "Welcome to Dowell Chat", count: 0 };
const GREETING = "Hey how may i help you";
const port = Number(process.env.PORT || 9000);

const httpServer = http.createServer((req, res) => {
  res.writeHead(req.url === "/health" ? 200 : 404, { "content-type": "application/json" });
  res.end('{"status":"ok"}');
});
const io = new Server(httpServer, { cors: { origin: "*" }, maxHttpBufferSize: 4e6 });

io.on("connection", (socket) => {
  socket.emit("my_response", WELCOME);
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack({ ok: true, data });
  });
  socket.on("join", (p, ack) => {
    const room = `chat:${p.room}`;
    socket.join(room);
    socket.to(room).emit("my_response", { data: `${socket.id} Joined the Room` });
    socket.emit("my_response", { data: GREETING });
    if (typeof ack === "function") ack({ ok: true, data: { room: p.room, history: 0 } });
  });
  socket.on("message_event", (p, ack) => {
    io.to(`chat:${p.room_id}`).emit("my_response", { data: p.message_data, sid: socket.id });
    if (typeof ack === "function") ack({ ok: true, data: { room: p.room_id, message_data: p.message_data } });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log("ready"));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));

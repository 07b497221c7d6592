// One socket.io-client, as a browser frontend uses it, connected through the reverse proxy with a token.
// Reports on stdout (one JSON line each): connected, upgraded, disconnected, call_incoming, ack.
// Reads commands on stdin (one JSON line each): {"cmd": "me"} or {"cmd": "message", "text": "..."}.
// Usage: node failover_flow.mjs URL TOKEN
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const bound = setTimeout(() => { out({ event: "timeout" }); process.exit(2); }, 100_000);

const socket = io(url, {
  auth: { token },
  transports: ["polling", "websocket"],
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  timeout: 5000,
});
socket.on("connect", () => {
  out({ event: "connected", sid: socket.id, transport: socket.io.engine.transport.name });
  const upgraded = () => out({ event: "upgraded", sid: socket.id, transport: socket.io.engine.transport.name });
  if (socket.io.engine.transport.name === "websocket") upgraded();
  else socket.io.engine.once("upgrade", upgraded);
});
socket.on("disconnect", (reason) => out({ event: "disconnected", reason }));
socket.on("connect_error", (err) => out({ event: "connect_error", message: err.message }));
socket.on("call_incoming", (call) => out({ event: "call_incoming", call_id: call.call_id }));

const room = (text) => ({
  type: "chat", room_id: "failover", message_data: text, side: "client", author: "js", message_type: "text",
});

createInterface({ input: process.stdin }).on("line", async (line) => {
  const { cmd, text } = JSON.parse(line);
  try {
    const ack = cmd === "me"
      ? await socket.timeout(5000).emitWithAck("me")
      : await socket.timeout(5000).emitWithAck("message_event", room(text));
    out({ event: "ack", cmd, ack });
  } catch (err) {
    out({ event: "ack", cmd, error: String(err) });
  }
}).on("close", () => {
  clearTimeout(bound);
  socket.close();
});

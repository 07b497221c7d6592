// Order across the polling -> WebSocket upgrade, seen by socket.io-client.
// Usage: node upgrade_order.mjs <server-url> <sockets>
// Opens the sockets with the default transports (polling first, then the upgrade), prints "ready" once all
// are connected, records every `seq` push until `seq_done`, then prints one JSON line per socket.
import { io } from "socket.io-client";

const [url, count] = [process.argv[2], Number(process.argv[3] || 5)];
const sockets = [];
for (let i = 0; i < count; i++) {
  const socket = io(url, { reconnection: false });
  const seen = { seq: [], done: false, upgradedAt: null };
  socket.on("seq", (n) => seen.seq.push(n));
  socket.on("seq_done", () => { seen.done = true; });
  socket.io.engine.on("upgrade", () => { seen.upgradedAt = seen.seq.length; });
  sockets.push({ socket, seen });
}
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (check, ms) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await wait(5);
  }
};
await until(() => sockets.every((s) => s.socket.connected), 10000);
console.log("ready");
await until(() => sockets.every((s) => s.seen.done), 30000);
for (const { socket, seen } of sockets) {
  console.log(JSON.stringify({ transport: socket.io.engine.transport.name, upgradedAt: seen.upgradedAt, seq: seen.seq }));
}
process.exit(0);

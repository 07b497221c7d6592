// Restart under load (tests/test_shutdown.py): signed-in socket.io-client sockets over WebSocket send acked
// chat messages to instance A; when A stops, each reconnects (socket.io-client's own reconnection) to B, the
// URL a proxy would route it to. Prints JSON lines: {"ready"}, {"switched"}, then on stdin "stop" the result,
// then {"session_ended": i} for each socket that gets that push on its user room afterwards. With an office ref,
// socket 0 tracks it first and reports {"push": name, "i": 0} for the office pushes it gets.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [urlA, urlB, tokensJson, office] = process.argv.slice(2);
const OFFICE_PUSHES = ["tracking_restored", "counter_updated"];
const tokens = JSON.parse(tokensJson);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

let sending = true;
const clients = tokens.map((token, i) => {
  const socket = io(urlA, {
    transports: ["websocket"], auth: { token }, reconnectionDelay: 200, reconnectionDelayMax: 1000,
  });
  const c = { i, socket, acked: [], failed: 0, restarting: 0, timeouts: 0, timedOut: [], downs: [], ups: [], reasons: [], urls: [], n: 0, pending: new Set() };
  socket.on("connect", () => { c.ups.push(Date.now()); c.urls.push(socket.io.uri); });
  socket.on("disconnect", (reason) => {
    c.downs.push(Date.now());
    c.reasons.push(reason);
    socket.io.uri = urlB; // what a proxy does: the next connection goes to the instance still up
  });
  socket.on("session_ended", () => say({ session_ended: i }));
  socket.onAny((event, data) => { if (OFFICE_PUSHES.includes(event)) say({ push: event, i, data, url: socket.io.uri }); });
  return c;
});

async function load(c) {
  while (sending) {
    if (c.socket.connected) {
      const text = `c${c.i}-${c.n++}`;
      const sent = c.socket.timeout(5000).emitWithAck("message_event", {
        type: "chat", room_id: "restart-load", message_data: text, side: "client", author: `js${c.i}`,
        message_type: "text",
      }).then((ack) => {
        if (ack && ack.ok) c.acked.push(text);
        else if (ack?.error?.details?.reason === "restarting") c.restarting++; // refused, not run: send again
        else c.failed++;
      }, () => { c.timeouts++; c.timedOut.push(text); });
      c.pending.add(sent);
      sent.finally(() => c.pending.delete(sent));
    }
    await wait(40);
  }
}

const until = async (check) => { while (!check()) await wait(20); };
await until(() => clients.every((c) => c.socket.connected));
if (office) {
  const tracked = await clients[0].socket.timeout(5000).emitWithAck("track_offices", {
    action: "enable", ref_offices: [office],
  });
  if (!tracked.ok) throw new Error(`track_offices failed: ${JSON.stringify(tracked)}`);
}
const loops = clients.map(load);
await wait(300);
say({ ready: true });
await until(() => clients.every((c) => c.downs.length > 0 && c.socket.connected));
say({ switched: true, urls: clients.map((c) => c.socket.io.uri) });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== "stop") continue;
  sending = false;
  await Promise.all(loops);
  await Promise.all(clients.flatMap((c) => [...c.pending]));
  say({
    result: clients.map((c) => ({
      acked: c.acked, failed: c.failed, restarting: c.restarting, timeouts: c.timeouts, timed_out: c.timedOut, downs: c.downs, ups: c.ups, reasons: c.reasons, urls: c.urls,
      transport: c.socket.io.engine.transport.name,
    })),
  });
}

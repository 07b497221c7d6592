// Connection-state recovery driver (tests/test_session_recovery.py): unmodified socket.io-client sockets,
// driven by JSON commands on stdin, reporting JSON lines on stdout.
// Commands: {"open": name, "url", "auth", "retries"?}  {"emit": name, "event", "payload", "key"?, "ref"}
//           {"drop": name} (close the transport)  {"lose_next_ack": name} (the next ack is lost with the transport)
//           {"reconnect": name, "url"?}  {"seen": name} (every event received)  {"close": name}
// Lines: {"connected": name, "id", "recovered"}, {"disconnected": name, "reason"}, {"acked": ref, "ack"}, {"seen": name, "events"}, {"error": ...}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const sockets = new Map();

function open({ open: name, url, auth, retries }) {
  const socket = io(url, {
    transports: ["websocket"], auth: { recover: true, ...auth }, reconnection: false, forceNew: true,
    ...(retries ? { retries, ackTimeout: 2000 } : {}),
  });
  const state = { socket, events: [], loseNextAck: false };
  socket.on("connect", () => say({ connected: name, id: socket.id, recovered: Boolean(socket.recovered) }));
  socket.on("disconnect", (reason) => say({ disconnected: name, reason }));
  socket.on("connect_error", (err) => say({ error: name, message: String(err && err.message) }));
  socket.onAny((event, ...args) => state.events.push([event, ...args]));
  const onack = socket.onack.bind(socket);
  socket.onack = (packet) => {
    if (!state.loseNextAck) return onack(packet);
    state.loseNextAck = false; // the ack never arrives: the connection breaks first
    socket.io.engine.close();
  };
  sockets.set(name, state);
}

function emit({ emit: name, event, payload, key, ref }) {
  const { socket } = sockets.get(name);
  const args = key ? [payload, { retry_key: key }] : [payload];
  socket.timeout(10000).emit(event, ...args, (err, ack) => say({ acked: ref, error: err ? String(err.message) : null, ack }));
}

const commands = {
  open,
  emit,
  drop: ({ drop: name }) => sockets.get(name).socket.io.engine.close(),
  lose_next_ack: ({ lose_next_ack: name }) => { sockets.get(name).loseNextAck = true; },
  reconnect: ({ reconnect: name, url }) => {
    const { socket } = sockets.get(name);
    if (url) socket.io.uri = url;
    socket.connect();
  },
  seen: ({ seen: name }) => say({ seen: name, events: sockets.get(name).events }),
  close: ({ close: name }) => sockets.get(name).socket.close(),
};

say({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  const verb = Object.keys(command).find((k) => k in commands);
  try {
    commands[verb](command);
  } catch (err) {
    say({ error: verb, message: String(err) });
  }
}
for (const { socket } of sockets.values()) socket.close();

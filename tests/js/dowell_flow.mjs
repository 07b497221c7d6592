// A Dowell Chat V2 frontend's flow, written once for both runners: Node (dowell_chat_flow.mjs)
// and a real browser page (browser.html). `io` is socket.io-client's `io` function.
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(check, what, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await wait(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const message = (text) => ({
  type: "chat", room_id: "js-room", message_data: text, side: "client", author: "js", message_type: "text",
});

/** Run the flow against `url`; resolve to what the clients saw, reject on the first broken promise. */
export async function runDowellFlow(io, url) {
  const client = () => {
    const socket = io(url, { transports: ["websocket", "polling"], reconnection: false });
    const seen = [];
    socket.on("my_response", (msg) => seen.push(msg));
    return { socket, seen };
  };
  const a = client();
  const b = client();
  try {
    await until(() => a.socket.connected && b.socket.connected, "connect");
    await until(() => a.seen.some((m) => m.data === "Welcome to Dowell Chat"), "welcome");

    a.socket.emit("join", { room: "js-room" });
    await until(() => a.seen.some((m) => m.data === "Hey how may i help you"), "greeting");
    b.socket.emit("join", { room: "js-room" });
    await until(() => a.seen.some((m) => m.data === `${b.socket.id} Joined the Room`), "join notice");

    a.socket.emit("message_event", message("hello from js"));
    await until(() => b.seen.some((m) => m.data === "hello from js" && m.sid === a.socket.id), "message");

    a.socket.emit("message_event", { ...message("x"), author: "" });
    await until(() => a.seen.some((m) => m.data === "Invalid Data"), "Invalid Data");

    const ack = await a.socket.timeout(5000).emitWithAck("message_event", message("with ack"));
    if (!ack.ok || ack.data.message_data !== "with ack") throw new Error(`bad ack ${JSON.stringify(ack)}`);

    const refused = await new Promise((resolve) => {
      const s = io(url, { transports: ["websocket"], reconnection: false, auth: { token: "not-a-jwt" } });
      s.on("connect_error", (err) => { resolve({ message: err.message, data: err.data }); s.close(); });
      s.on("connect", () => { resolve(null); s.close(); });
    });
    if (!refused || refused.data?.code !== "unauthorized") {
      throw new Error(`bad token accepted: ${JSON.stringify(refused)}`);
    }
    return { ok: true, a: a.seen, b: b.seen, refused, transport: a.socket.io.engine.transport.name };
  } finally {
    a.socket.close();
    b.socket.close();
  }
}

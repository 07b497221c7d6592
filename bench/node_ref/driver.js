// socket.io-client cross-check for bench/run.py: closed-loop acked events, printed as one JSON line.
// Usage: node driver.js URL EVENT CLIENTS IN_FLIGHT WARMUP_S SECONDS [TOKEN]
"use strict";
const { io } = require("socket.io-client");

const [url, event, clients, inFlight, warmup, seconds, token] = process.argv.slice(2);
const payload = event === "get_presence" ? { user_ids: [process.env.BENCH_USER_ID] } : { n: 1, text: "hello" };

async function main() {
  const sockets = [];
  for (let i = 0; i < Number(clients); i++) {
    const socket = io(url, { transports: ["websocket"], reconnection: false, auth: token ? { token } : undefined });
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    sockets.push(socket);
  }
  let counting = false;
  let acks = 0;
  let running = true;
  const loop = async (socket) => {
    while (running) {
      const ack = await socket.emitWithAck(event, payload);
      if (!ack || !ack.ok) throw new Error(`bad ack ${JSON.stringify(ack)}`);
      if (counting) acks++;
    }
  };
  const loops = [];
  for (const socket of sockets) for (let j = 0; j < Number(inFlight); j++) loops.push(loop(socket));
  await new Promise((r) => setTimeout(r, Number(warmup) * 1000));
  counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  running = false;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
  for (const socket of sockets) socket.disconnect();
  const cpuPct = ((cpu.user + cpu.system) / 1e6 / elapsed) * 100;
  console.log(JSON.stringify({ rate: acks / elapsed, client_cpu: cpuPct }));
  process.exit(0);
}

main().catch((err) => {
  console.error(String(err));
  process.exit(1);
});

// The Dowell Chat V2 flow with Node's socket.io-client.
// Usage: node dowell_chat_flow.mjs <server-url>   (prints one JSON line with what it saw; exit 0 on success)
import { io } from "socket.io-client";
import { runDowellFlow } from "./dowell_flow.mjs";

const seen = await runDowellFlow(io, process.argv[2]);
console.log(JSON.stringify(seen));
process.exit(0);

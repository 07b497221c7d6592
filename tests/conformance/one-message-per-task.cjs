// Preload for the conformance suites (mocha --require): hand a WebSocket's messages to the page one per
// macrotask, as browsers do, instead of every frame of one network read at once.
//
// The suites' pinned `ws` client emits every message it parsed from one read synchronously, so a test that
// awaits one message (`waitFor(socket, "message")`) resumes only after the next ones were emitted, with no
// listener left for them. Browsers queue a task per message. Here each socket's "message" (and a "close"
// behind queued messages) waits its turn in that socket's queue, drained one event per setImmediate. The
// suites themselves are not edited.
"use strict";

const { WebSocket } = require("ws");

const emit = WebSocket.prototype.emit;
const queues = new WeakMap();

function drain(socket) {
  const queue = queues.get(socket);
  const [event, args] = queue.shift();
  emit.call(socket, event, ...args);
  if (queue.length) setImmediate(drain, socket);
  else queues.delete(socket);
}

WebSocket.prototype.emit = function emitInTurn(event, ...args) {
  const queue = queues.get(this);
  if (event !== "message" && !(queue && (event === "close" || event === "error"))) {
    return emit.call(this, event, ...args);
  }
  if (queue) queue.push([event, args]);
  else {
    queues.set(this, [[event, args]]);
    setImmediate(drain, this);
  }
  return true;
};

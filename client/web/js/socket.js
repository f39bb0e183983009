// The WebSocket API (PROTOCOL.md, "WebSocket API"): one connection that reconnects on its own with
// exponential backoff, correlates replies to requests by `id`, and hands notifications to listeners.
import { ContractError } from "./api.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
// API Gateway answers within its 29 s integration timeout; a little more before giving up on a reply
const REPLY_TIMEOUT_MS = 32000;
// API Gateway closes idle connections after 10 minutes
const KEEPALIVE_MS = 5 * 60 * 1000;

/**
 * Events: "state" {state: "connecting"|"online"|"offline", retryInMs, attempt},
 * "open" {reconnected}, "notification" {notification}, "failure" {attempt, everOpened} (a connection closed
 * or never opened), "protocol-error" {error} (a `type: error` frame).
 */
export class NotificationSocket extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.state = "offline";
    this.ws = null;
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.everOpened = false;
    this.running = false;
    this.retryTimer = null;
    this.keepaliveTimer = null;
    this.onBrowserOnline = () => this.reconnectNow();
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener("online", this.onBrowserOnline);
    this.connect();
  }

  stop() {
    this.running = false;
    window.removeEventListener("online", this.onBrowserOnline);
    clearTimeout(this.retryTimer);
    clearInterval(this.keepaliveTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
    this.failPending(new ContractError("unavailable", "disconnected"));
    this.setState("offline");
  }

  /** Skip the remaining backoff (the browser came back online, or the user asked). */
  reconnectNow() {
    if (!this.running || this.state !== "offline") return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  connect() {
    this.setState("connecting");
    const url = `${this.url}?token=${encodeURIComponent(this.token)}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this.scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      opened = true;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.setState("online");
      clearInterval(this.keepaliveTimer);
      this.keepaliveTimer = setInterval(() => this.request("ping").catch(() => {}), KEEPALIVE_MS);
      this.dispatchEvent(new CustomEvent("open", { detail: { reconnected } }));
    });
    ws.addEventListener("message", (event) => {
      if (this.ws === ws) this.receive(event.data);
    });
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.keepaliveTimer);
      this.failPending(new ContractError("unavailable", "the connection was lost before the reply came"));
      this.scheduleReconnect(opened);
    });
  }

  scheduleReconnect(opened) {
    if (!this.running) return;
    this.attempt += 1;
    this.dispatchEvent(
      new CustomEvent("failure", { detail: { attempt: this.attempt, opened, everOpened: this.everOpened } }),
    );
    if (!this.running) return; // a listener may have stopped us (e.g. the token was revoked)
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.attempt - 1));
    const delay = Math.round(ceiling * (0.75 + Math.random() * 0.25)); // jitter: clients don't return in step
    this.setState("offline", delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, retryInMs = null) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryInMs, attempt: this.attempt } }));
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return; // the contract only sends JSON; ignore anything else rather than break the page
    }
    if (frame.type === "notification" && frame.notification) {
      this.dispatchEvent(new CustomEvent("notification", { detail: { notification: frame.notification } }));
    } else if (frame.type === "reply") {
      const waiter = this.pending.get(frame.id);
      if (!waiter) return;
      this.pending.delete(frame.id);
      clearTimeout(waiter.timer);
      if (frame.ok) waiter.resolve(frame.data || {});
      else waiter.reject(toError(frame.error));
    } else if (frame.type === "error") {
      const error = toError(frame.error);
      // an error frame about one of our requests carries its id when the server could read it
      const waiter = frame.id ? this.pending.get(frame.id) : null;
      if (waiter) {
        this.pending.delete(frame.id);
        clearTimeout(waiter.timer);
        waiter.reject(error);
      } else {
        this.dispatchEvent(new CustomEvent("protocol-error", { detail: { error } }));
      }
    }
  }

  /** Send `{action, id, ...fields}`; resolves with the reply's data, rejects with a ContractError. */
  request(action, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ContractError("unavailable", "not connected: wait for the connection to come back"));
    }
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ContractError("unavailable", `no reply to ${action} in time`));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ action, id, ...fields }));
    });
  }

  failPending(error) {
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.pending.clear();
  }
}

function toError(error) {
  const e = error || {};
  return new ContractError(e.code || "invalid_request", e.message || "");
}

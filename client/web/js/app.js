// The page: sign in, keep one WebSocket, show topics, notifications, publishing, email and avatars.
// Wire format lives in api.js (HTTP) and socket.js (WebSocket); the merged state in inbox.js.
import { ContractError, RestApi, describeError } from "./api.js";
import { loadEndpoints } from "./config.js";
import { Inbox } from "./inbox.js";
import { NotificationSocket } from "./socket.js";

const SESSION_KEY = "notifyx.session";
const HISTORY_PAGE = 100; // the contract's maximum `limit` for history
const MAIL_POLL_MS = 1000;
const MAX_MESSAGE_BYTES = 64 * 1024; // PROTOCOL.md: publish `message` ≤ 64 KB
const MAIL_POLL_LIMIT_MS = 60000;

const $ = (testid, root = document) => root.querySelector(`[data-testid="${testid}"]`);

const page = {
  endpoints: null,
  api: null,
  user: null,
  socket: null,
  inbox: null,
  selected: null,
  directory: new Map(), // topic name -> {name, owner, status, subscribers} from GET /topics
};

// ------------------------------------------------------------------ messages

function showError(error, context = "") {
  const text = describeError(error);
  $("error-text").textContent = context ? `${context}: ${text}` : text;
  $("error-banner").hidden = false;
}

function clearError() {
  $("error-banner").hidden = true;
  $("error-text").textContent = "";
}

/** Run an async UI action; any failure is shown, never swallowed. Disables `button` meanwhile. */
async function attempt(context, action, button = null) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    if (error instanceof ContractError && error.code === "unauthorized" && page.user) {
      endSession("Your session has ended: please log in again.");
    } else {
      showError(error, context);
    }
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ------------------------------------------------------------------ signing in and out

function showAuth(message = "") {
  $("auth-view").hidden = false;
  $("main-view").hidden = true;
  $("session").hidden = true;
  $("connection-state").hidden = true;
  $("auth-message").textContent = message;
}

function bindAuth() {
  const form = $("auth-form");
  const credentials = () => ({ email: form.email.value.trim(), password: form.password.value });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { email, password } = credentials();
    await signIn(email, password, $("login-button"));
  });

  $("register-button").addEventListener("click", async () => {
    if (!form.reportValidity()) return;
    const { email, password } = credentials();
    if (password.length < 8) {
      showError(new ContractError("invalid_request", "the password needs at least 8 characters"), "Register");
      return;
    }
    const created = await attempt("Register", () => page.api.register(email, password), $("register-button"));
    if (created) await signIn(email, password, $("register-button"));
  });

  $("logout-button").addEventListener("click", async () => {
    // the server revokes the token everywhere; leave even if that call fails, but say so
    await attempt("Log out", () => page.api.logout());
    endSession("You are logged out.");
  });
}

async function signIn(email, password, button) {
  clearError();
  const session = await attempt("Log in", () => page.api.login(email, password), button);
  if (!session) return;
  localStorage.setItem(SESSION_KEY, JSON.stringify({ token: session.token, user: session.user }));
  startSession(session.token, session.user);
}

function endSession(message) {
  localStorage.removeItem(SESSION_KEY);
  if (page.socket) page.socket.stop();
  page.socket = null;
  page.user = null;
  page.inbox = null;
  page.selected = null;
  page.api.token = null;
  showAuth(message);
}

function startSession(token, user) {
  page.api.token = token;
  page.user = user;
  page.inbox = new Inbox(user.id);
  page.inbox.addEventListener("change", render);

  $("auth-view").hidden = true;
  $("main-view").hidden = false;
  $("session").hidden = false;
  $("connection-state").hidden = false;
  $("user-email").textContent = user.email;
  $("user-avatar").src = page.api.avatarUrl(avatarName(user.email), 64, "identicon");
  $("avatar-name").value = avatarName(user.email);

  const wanted = decodeURIComponent(location.hash.slice(1));
  page.selected = page.inbox.topic(wanted) ? wanted : [...page.inbox.topics.keys()][0] || null;
  render();
  refreshDirectory();
  connect(token);
}

/** Avatar names are path segments: keep the letters of the email's local part. */
function avatarName(email) {
  return (email.split("@")[0] || "me").replace(/[^A-Za-z0-9_-]/g, "-");
}

// ------------------------------------------------------------------ the connection

function connect(token) {
  const socket = new NotificationSocket(page.endpoints.ws, token);
  page.socket = socket;

  socket.addEventListener("state", (event) => renderConnection(event.detail));
  socket.addEventListener("open", () => catchUp());
  socket.addEventListener("notification", (event) => receive(event.detail.notification));
  socket.addEventListener("protocol-error", (event) => showError(event.detail.error, "Server"));
  socket.addEventListener("failure", async (event) => {
    // a refused handshake looks like any other close in a browser: ask the REST API whether the token still works
    if (event.detail.opened) return;
    try {
      await page.api.self();
    } catch (error) {
      if (error instanceof ContractError && error.code === "unauthorized" && page.socket === socket) {
        endSession("Your session has ended: please log in again.");
      }
    }
  });
  socket.start();
}

function renderConnection({ state, retryInMs }) {
  const pill = $("connection-state");
  pill.dataset.state = state;
  if (state === "offline" && retryInMs != null) {
    pill.textContent = `offline · retrying in ${Math.max(1, Math.round(retryInMs / 1000))} s`;
  } else {
    pill.textContent = state === "connecting" ? "connecting…" : state;
  }
  pill.title = state === "offline" ? "Click to reconnect now" : "";
}

/** After every (re)connect, fetch what each topic got since the last seq we have. */
async function catchUp() {
  if (!page.inbox) return;
  await Promise.all([...page.inbox.topics.keys()].map((name) => syncTopic(name)));
}

async function syncTopic(name) {
  const topic = page.inbox && page.inbox.topic(name);
  if (!topic) return;
  await attempt(`History of ${name}`, async () => {
    for (;;) {
      const data = await page.socket.request("history", { topic: name, after_seq: topic.lastSeq, limit: HISTORY_PAGE });
      const notifications = data.notifications || [];
      topic.merge(notifications);
      topic.loaded = true;
      page.inbox.changed(name);
      if (notifications.length < HISTORY_PAGE) break;
    }
  });
}

function receive(notification) {
  if (!page.inbox) return;
  const topic = page.inbox.ensure(notification.topic);
  const gap = typeof notification.seq === "number" && notification.seq > topic.lastSeq + 1 && topic.loaded;
  topic.merge([notification]);
  page.inbox.changed(topic.name);
  if (!page.selected) select(topic.name);
  if (gap) syncTopic(topic.name); // a frame was missed: history fills it in
}

// ------------------------------------------------------------------ topics

async function refreshDirectory() {
  const data = await attempt("Topics", () => page.api.topics());
  if (!data) return;
  page.directory = new Map((data.topics || []).map((t) => [t.name, t]));
  for (const [name, info] of page.directory) {
    const topic = page.inbox && page.inbox.topic(name);
    if (topic) applyOwner(topic, info.owner, info.owner_id);
  }
  render();
}

function isMe(owner) {
  return owner != null && page.user && (owner === page.user.id || owner === page.user.email);
}

/** A topic's `owner` is the owner's email; GET /topics also sends their id, `owner_id` (PROTOCOL.md). */
function applyOwner(topic, owner, ownerId = null) {
  topic.owner = owner;
  topic.ownerEmail = owner;
  topic.canPublish = isMe(owner) || isMe(ownerId);
}

async function subscribe(name, button) {
  const data = await attempt(`Subscribe to ${name}`, () => page.socket.request("subscribe", { topic: name }), button);
  if (!data) return false;
  const topic = page.inbox.ensure(data.topic || name);
  applyOwner(topic, data.owner);
  if (typeof data.can_publish === "boolean") topic.canPublish = data.can_publish;
  select(topic.name);
  await syncTopic(topic.name);
  refreshDirectory();
  return true;
}

async function unsubscribe(name, button) {
  const done = await attempt(`Unsubscribe from ${name}`, () => page.socket.request("unsubscribe", { topic: name }), button);
  if (!done) return;
  page.inbox.remove(name);
  if (page.selected === name) select([...page.inbox.topics.keys()][0] || null);
  refreshDirectory();
}

function select(name) {
  page.selected = name;
  history.replaceState(null, "", name ? `#${encodeURIComponent(name)}` : location.pathname + location.search);
  $("publish-status").textContent = "";
  render();
}

function bindTopics() {
  const form = $("subscribe-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.topic.value.trim();
    if (await subscribe(name, $("subscribe-button"))) form.reset();
  });
  $("directory").addEventListener("toggle", () => {
    if ($("directory").open) refreshDirectory();
  });
  $("connection-state").addEventListener("click", () => page.socket && page.socket.reconnectNow());
}

// ------------------------------------------------------------------ notifications

async function markSeen(topicName, id, button = null) {
  const seen = await attempt(
    "Mark seen",
    async () => {
      // the socket when we have it; the REST API works while reconnecting
      if (page.socket && page.socket.state === "online") return page.socket.request("ack", { notification_id: id });
      return page.api.markSeen(id);
    },
    button,
  );
  if (seen) page.inbox.markSeen(topicName, id);
}

async function markAllSeen() {
  const topic = page.inbox.topic(page.selected);
  if (!topic) return;
  const unread = topic.ordered().filter((n) => n.status !== "seen");
  const button = $("mark-all-seen");
  button.disabled = true;
  for (const n of unread) await markSeen(topic.name, n.id);
  button.disabled = false;
}

function bindPublish() {
  const form = $("publish-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const topic = page.selected;
    const message = form.message.value;
    const to = form.to.value
      .split(/[\s,;]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    // the contract's limit; checked here too because on AWS a frame over 32 KB closes the socket instead
    if (new TextEncoder().encode(message).length > MAX_MESSAGE_BYTES) {
      showError(new ContractError("payload_too_large", "a notification is at most 64 KB"), `Publish to ${topic}`);
      return;
    }
    const request = { topic, message, idempotency_key: idempotencyKey() };
    if (to.length) request.to = to;
    $("publish-status").textContent = "publishing…";
    const result = await attempt(`Publish to ${topic}`, () => page.socket.request("publish", request), $("publish-button"));
    if (!result) {
      $("publish-status").textContent = "not published";
      return;
    }
    const who = result.recipients === 1 ? "1 recipient" : `${result.recipients} recipients`;
    $("publish-status").textContent = `published #${result.seq} to ${who}`;
    form.message.value = "";
  });
  $("mark-all-seen").addEventListener("click", markAllSeen);
}

/** A random key per publish, so a retried frame cannot publish twice (randomUUID needs a secure context). */
function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ email and avatars

function bindMail() {
  const form = $("mail-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mail = { to: form.to.value.trim(), subject: form.subject.value.trim() || "Notifyx", message: form.message.value };
    const id = await attempt(
      "Send email",
      async () => {
        if (page.socket && page.socket.state === "online") return (await page.socket.request("send_email", mail)).mail_id;
        return (await page.api.sendMail(mail.to, mail.subject, mail.message)).mail.id;
      },
      $("mail-send"),
    );
    if (!id) return;
    form.message.value = "";
    const item = document.createElement("li");
    item.dataset.testid = "mail-item";
    item.dataset.mailId = id;
    const status = element("span", "mail-status", "queued");
    status.dataset.testid = "mail-status";
    item.append(element("span", "", `to ${mail.to} `), status);
    $("mail-list").prepend(item);
    followMail(id, status);
  });
}

async function followMail(id, status) {
  const started = Date.now();
  while (Date.now() - started < MAIL_POLL_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, MAIL_POLL_MS));
    const data = await attempt("Email status", () => page.api.mail(id));
    if (!data) {
      status.textContent = "status unknown";
      return;
    }
    const mail = data.mail;
    status.textContent = mail.status + (mail.error ? ` (${mail.error})` : "");
    status.dataset.status = mail.status;
    if (mail.status !== "queued") return;
  }
}

function bindAvatar() {
  const form = $("avatar-form");
  const image = $("avatar-image");
  image.addEventListener("error", () => {
    if (image.getAttribute("src")) showError(new Error("the avatar image could not be loaded"), "Avatar");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const request = { name: form.name.value.trim(), size: Number(form.size.value), type: form.type.value };
    const url = await attempt(
      "Avatar",
      async () => {
        if (page.socket && page.socket.state === "online") return (await page.socket.request("generate_avatar", request)).url;
        return page.api.avatarUrl(request.name, request.size, request.type);
      },
      $("avatar-generate"),
    );
    if (!url) return;
    image.src = url;
    image.width = Math.min(request.size, 128);
    image.height = Math.min(request.size, 128);
    $("avatar-link").href = url;
    $("avatar-preview").hidden = false;
  });
}

// ------------------------------------------------------------------ rendering

function element(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function render() {
  if (!page.inbox) return;
  renderTopicList();
  renderTopicPanel();
  renderDirectory();
}

function ownerLabel(topic) {
  if (topic.canPublish) return "you";
  return topic.ownerEmail || topic.owner || "someone else";
}

function renderTopicList() {
  const list = $("topic-list");
  list.replaceChildren();
  const topics = [...page.inbox.topics.values()];
  $("no-topics").hidden = topics.length > 0;
  for (const topic of topics) {
    const item = element("li", topic.name === page.selected ? "selected" : "");
    item.dataset.testid = "topic-item";
    item.dataset.topic = topic.name;

    const open = element("button", "topic-name", topic.name);
    open.type = "button";
    open.dataset.testid = "topic-open";
    open.addEventListener("click", () => select(topic.name));
    item.append(open);

    if (topic.canPublish) {
      const mine = element("span", "tag", "owner");
      mine.dataset.testid = "owner-badge";
      mine.title = "You own this topic and can publish to it";
      item.append(mine);
    }
    const unread = topic.unread;
    if (unread > 0) {
      const badge = element("span", "badge", String(unread));
      badge.dataset.testid = "unread-badge";
      badge.title = `${unread} unread`;
      item.append(badge);
    }
    const leave = element("button", "link small leave", "✕");
    leave.type = "button";
    leave.title = `Unsubscribe from ${topic.name}`;
    leave.setAttribute("aria-label", leave.title);
    leave.dataset.testid = "unsubscribe-button";
    leave.addEventListener("click", () => unsubscribe(topic.name, leave));
    item.append(leave);
    list.append(item);
  }
}

function renderTopicPanel() {
  const topic = page.selected && page.inbox.topic(page.selected);
  $("topic-empty").hidden = Boolean(topic);
  $("topic-panel").hidden = !topic;
  if (!topic) return;

  $("topic-title").textContent = topic.name;
  // until GET /topics or a subscribe reply says who owns it, offer neither the form nor a refusal
  const known = topic.owner != null;
  $("topic-owner").textContent = `Owner: ${known ? ownerLabel(topic) : "…"}`;
  $("publish-form").hidden = !topic.canPublish;
  const forbidden = $("publish-forbidden");
  forbidden.hidden = topic.canPublish || !known;
  forbidden.textContent = topic.canPublish
    ? ""
    : `Only the owner (${ownerLabel(topic)}) can publish to ${topic.name}. You receive its notifications.`;

  const notifications = topic.ordered();
  $("history-empty").hidden = notifications.length > 0 || !topic.loaded;
  $("mark-all-seen").hidden = topic.unread === 0;
  const list = $("notification-list");
  list.replaceChildren();
  for (const n of notifications.reverse()) list.append(renderNotification(topic, n));
}

function renderNotification(topic, n) {
  const item = element("li", n.status === "seen" ? "seen" : "unread");
  item.dataset.testid = "notification";
  item.dataset.id = n.id;
  item.dataset.seq = String(n.seq ?? "");
  item.dataset.status = n.status;

  const meta = element("div", "meta small");
  const from = typeof n.from === "object" && n.from ? n.from.email || n.from.id : n.from;
  meta.append(element("span", "seq", `#${n.seq ?? "?"}`), element("span", "", ` ${from || ""}`));
  if (n.to && n.to.length) meta.append(element("span", "tag", "direct"));
  if (n.created_at) {
    const time = element("time", "muted", new Date(n.created_at).toLocaleString());
    time.dateTime = n.created_at;
    meta.append(time);
  }
  const message = element("p", "message", n.message);
  message.dataset.testid = "notification-message";
  item.append(meta, message);

  if (n.status !== "seen") {
    const seen = element("button", "link small", "Mark seen");
    seen.type = "button";
    seen.dataset.testid = "mark-seen";
    seen.addEventListener("click", () => markSeen(topic.name, n.id, seen));
    item.append(seen);
  }
  return item;
}

function renderDirectory() {
  const list = $("directory-list");
  list.replaceChildren();
  for (const info of page.directory.values()) {
    const item = element("li");
    item.dataset.testid = "directory-item";
    item.dataset.topic = info.name;
    const mine = isMe(info.owner) || isMe(info.owner_id);
    const owner = mine ? "you" : info.owner;
    item.append(element("span", "topic-name", info.name));
    item.append(element("span", "muted small", ` ${owner} · ${info.subscribers ?? 0} subscribers · ${info.status || ""}`));
    if (!page.inbox.topic(info.name)) {
      const join = element("button", "link small", "Subscribe");
      join.type = "button";
      join.addEventListener("click", () => subscribe(info.name, join));
      item.append(join);
    }
    list.append(item);
  }
}

// ------------------------------------------------------------------ start

async function boot() {
  page.endpoints = await loadEndpoints();
  page.api = new RestApi(page.endpoints.http);
  bindAuth();
  bindTopics();
  bindPublish();
  bindMail();
  bindAvatar();
  $("error-dismiss").addEventListener("click", clearError);

  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    saved = null;
  }
  if (!saved || !saved.token || !saved.user) {
    showAuth();
    return;
  }
  page.api.token = saved.token;
  try {
    const data = await page.api.self();
    saved.user = data.user || saved.user;
  } catch (error) {
    if (error instanceof ContractError && error.code === "unauthorized") {
      endSession("Your session has ended: please log in again.");
      return;
    }
    // the API is unreachable: start anyway, the connection keeps retrying
  }
  startSession(saved.token, saved.user);
}

boot().catch((error) => showError(error, "Starting"));

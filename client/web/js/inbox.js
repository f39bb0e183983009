// What the page knows about the user's topics and their notifications: one place that merges history
// pages, live frames and catch-up after a reconnect (by notification id, ordered by seq), and counts unread.

/** One subscribed topic: its owner and the notifications of the user's inbox, by id. */
export class TopicInbox {
  constructor(name) {
    this.name = name;
    this.owner = null; // owner's user id
    this.ownerEmail = null;
    this.canPublish = false;
    this.notifications = new Map();
  }

  /** Highest seq seen: catch-up asks for what comes after it. */
  get lastSeq() {
    let last = 0;
    for (const n of this.notifications.values()) if (typeof n.seq === "number" && n.seq > last) last = n.seq;
    return last;
  }

  get unread() {
    let count = 0;
    for (const n of this.notifications.values()) if (n.status !== "seen") count += 1;
    return count;
  }

  /** Oldest first, as history returns them. */
  ordered() {
    return [...this.notifications.values()].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  }

  /** Add or update notifications; a known one keeps "seen" even if an older copy says unread. */
  merge(notifications) {
    let added = 0;
    for (const n of notifications) {
      const known = this.notifications.get(n.id);
      if (!known) added += 1;
      const status = known && known.status === "seen" ? "seen" : n.status || "unread";
      this.notifications.set(n.id, { ...known, ...n, status });
    }
    return added;
  }
}

/** All the user's topics, remembered across reloads in localStorage (per user). */
export class Inbox extends EventTarget {
  constructor(userId) {
    super();
    this.storageKey = `notifyx.topics.${userId}`;
    this.topics = new Map();
    for (const name of this.remembered()) this.topics.set(name, new TopicInbox(name));
  }

  remembered() {
    try {
      const names = JSON.parse(localStorage.getItem(this.storageKey) || "[]");
      return Array.isArray(names) ? names.filter((n) => typeof n === "string") : [];
    } catch {
      return [];
    }
  }

  save() {
    localStorage.setItem(this.storageKey, JSON.stringify([...this.topics.keys()]));
  }

  topic(name) {
    return this.topics.get(name);
  }

  /** The topic's inbox, created (and remembered) if new. */
  ensure(name) {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = new TopicInbox(name);
      this.topics.set(name, topic);
      this.save();
    }
    return topic;
  }

  remove(name) {
    this.topics.delete(name);
    this.save();
    this.changed(name);
  }

  changed(name = null) {
    this.dispatchEvent(new CustomEvent("change", { detail: { topic: name } }));
  }

  markSeen(topicName, id) {
    const topic = this.topics.get(topicName);
    const n = topic && topic.notifications.get(id);
    if (n) {
      n.status = "seen";
      this.changed(topicName);
    }
  }
}

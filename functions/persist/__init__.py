"""Persist: topics, subscriptions, notifications stored once, per-user inboxes; a 2PC participant."""

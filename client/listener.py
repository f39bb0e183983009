"""Listening to topics across reconnects: every notification once, in seq order per topic."""
from __future__ import annotations

import sys
import time
from collections import deque

from websockets.exceptions import ConnectionClosed

from client.sdk import ApiError, Client, Connection


class Listener:
    """Notifications of some topics, exactly once and in seq order per topic, across reconnects: after a drop
    it reconnects with backoff and asks `history` for what came after the last seq it has seen."""

    def __init__(self, client: Client, topics: list[str], max_backoff: float = 10.0, log=None):
        self.client = client
        self.topics = topics
        self.cursors: dict[str, int] = {}
        self.max_backoff = max_backoff
        self.conn: Connection | None = None
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def _open(self) -> list[dict]:
        """Connect, subscribe, and return what was missed since the cursors (empty on the first connect)."""
        self.conn = self.client.connect()
        missed: list[dict] = []
        for topic in self.topics:
            data = self.conn.request("subscribe", topic=topic)
            if topic not in self.cursors:
                self.cursors[topic] = int(data.get("last_seq") or 0)
                continue
            while True:
                page = self.conn.request("history", topic=topic, after_seq=self.cursors[topic], limit=100)
                batch = [n for n in page["notifications"] if n["seq"] > self.cursors[topic]]
                missed.extend(batch)
                if batch:
                    self.cursors[topic] = max(self.cursors[topic], batch[-1]["seq"])
                if len(page["notifications"]) < 100:
                    break
        # live frames that raced with the catch-up are filtered by the cursors as they are read
        positions = ", ".join(f"{topic} after #{seq}" for topic, seq in self.cursors.items())
        self.log(f"listening to {positions}")
        return missed

    def notifications(self, deadline: float | None = None):
        """Yield notifications until `deadline` (monotonic) or forever."""
        backoff = 0.5
        pending: deque[dict] = deque()
        while deadline is None or time.monotonic() < deadline:
            try:
                if self.conn is None:
                    pending.extend(self._open())
                    backoff = 0.5
                while pending:
                    yield pending.popleft()
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    note = self.conn.next_notification(timeout=min(remaining, 1.0) if remaining is not None else 1.0)
                except TimeoutError:
                    continue
                topic = note.get("topic")
                if topic in self.cursors and note["seq"] <= self.cursors[topic]:
                    continue
                self.cursors[topic] = note["seq"]
                yield note
            except (ConnectionClosed, OSError) as exc:
                self._drop()
                self.log(f"connection lost ({exc}); reconnecting in {backoff:.1f}s")
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except ApiError as exc:
                if exc.code not in ("unavailable", "rate_limited"):
                    raise
                self._drop()
                self.log(f"{exc}; retrying in {backoff:.1f}s")
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - the socket is already broken; closing is best effort
                pass
        self.conn = None

    def close(self) -> None:
        self._drop()

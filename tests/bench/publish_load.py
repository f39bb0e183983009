"""Publish load over the public WebSocket contract: N publishers in flight, each on its own topic with a few
subscribers, each publishing again as soon as its previous publish was answered (a closed loop).

Used by tests/bench/test_publish_bench.py and runnable alone against a running `notifyx up`
(for profiling: `py-spy record --gil -p <pid>` while this runs):

    python -m tests.bench.publish_load --publishers 10 --seconds 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from client.sdk import HttpApi, load_endpoints

PASSWORD = "bench password"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def sign_up(http_api: str, count: int) -> list[dict]:
    """Register and log in `count` fresh users, a few at a time (scrypt makes each take tens of ms)."""

    def one(_: int) -> dict:
        http = HttpApi(http_api)
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        http.register(email, PASSWORD)
        session = http.login(email, PASSWORD)
        return {"email": email, "id": session["user"]["id"], "token": session["token"]}

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def ws_url(endpoints: dict, token: str) -> str:
    return f"{endpoints['websocket_api']}?token={urllib.parse.quote(token, safe='')}"


@dataclass
class LoadResult:
    publishers: int
    seconds: float
    committed: int = 0
    failed: int = 0
    deliveries: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict:
        return {"publishers_in_flight": self.publishers, "seconds": round(self.seconds, 2),
                "committed": self.committed, "failed": self.failed,
                "publishes_per_s": round(self.committed / self.seconds, 1) if self.seconds else 0.0,
                "reply_p50_ms": round(percentile(self.latencies_ms, 50), 2),
                "reply_p99_ms": round(percentile(self.latencies_ms, 99), 2),
                "reply_max_ms": round(max(self.latencies_ms, default=0.0), 2),
                "deliveries": self.deliveries}


class Publisher:
    """One owner socket on its own topic, plus subscriber sockets that count deliveries."""

    def __init__(self, endpoints: dict, owner: dict, subscribers: list[dict]) -> None:
        self.endpoints, self.owner, self.subscribers = endpoints, owner, subscribers
        self.topic = f"load-{uuid.uuid4().hex[:10]}"
        self.ws = None
        self.listeners: list = []
        self.readers: list[asyncio.Task] = []
        self.delivered = 0

    async def open(self) -> None:
        self.ws = await connect(ws_url(self.endpoints, self.owner["token"]), max_size=None, open_timeout=60)
        await self.ws.send(json.dumps({"action": "subscribe", "id": "own", "topic": self.topic}))
        assert json.loads(await self.ws.recv())["ok"]
        for user in self.subscribers:
            sub = await connect(ws_url(self.endpoints, user["token"]), max_size=None, open_timeout=60)
            await sub.send(json.dumps({"action": "subscribe", "id": "s", "topic": self.topic}))
            assert json.loads(await sub.recv())["ok"]
            self.listeners.append(sub)
        self.readers = [asyncio.create_task(self._count(sub)) for sub in self.listeners]

    async def _count(self, sub) -> None:
        async for raw in sub:
            if b'"notification"' in (raw.encode() if isinstance(raw, str) else raw):
                self.delivered += 1

    async def run(self, until: float, result: LoadResult, stop_after: int | None = None) -> None:
        n = 0
        while time.perf_counter() < until and (stop_after is None or n < stop_after):
            n += 1
            frame_id = f"p{n}"
            sent = time.perf_counter()
            await self.ws.send(json.dumps({"action": "publish", "id": frame_id, "topic": self.topic,
                                           "message": f"load {n}"}))
            while True:
                reply = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
                if reply.get("type") == "reply" and reply.get("id") == frame_id:
                    break
            if reply.get("ok"):
                result.committed += 1
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
            else:
                result.failed += 1

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(s.close() for s in [self.ws, *self.listeners] if s), return_exceptions=True)


async def run_load(endpoints: dict, users: list[dict], publishers: int, seconds: float,
                   subscribers_per_topic: int = 2, publishes_each: int | None = None,
                   warmup_publishes: int = 1, window: Callable[[str], None] | None = None) -> LoadResult:
    """`publishers` closed-loop publishers for `seconds` (or `publishes_each` each), each on its own topic
    with its own `subscribers_per_topic` subscribers: needs publishers * (1 + subscribers_per_topic) users.
    `window`, if given, is called with "start" and "end" around the timed publishes alone (not the sockets'
    opening and closing, whose connect and disconnect invocations are no publish's)."""
    needed = publishers * (1 + subscribers_per_topic)
    if len(users) < needed:
        raise ValueError(f"{publishers} publishers with {subscribers_per_topic} subscribers need {needed} users")
    owners, rest = users[:publishers], users[publishers:]
    crowd = [Publisher(endpoints, owner, rest[i * subscribers_per_topic:(i + 1) * subscribers_per_topic])
             for i, owner in enumerate(owners)]
    await asyncio.gather(*(p.open() for p in crowd))
    try:
        if warmup_publishes:
            await asyncio.gather(*(p.run(float("inf"), LoadResult(publishers, 0), warmup_publishes) for p in crowd))
        result = LoadResult(publishers, seconds)
        if window is not None:
            window("start")
        started = time.perf_counter()
        delivered_before = sum(p.delivered for p in crowd)
        await asyncio.gather(*(p.run(started + seconds, result, publishes_each) for p in crowd))
        result.seconds = time.perf_counter() - started
        if window is not None:
            window("end")
        await asyncio.sleep(0.5)  # the last deliveries
        result.deliveries = sum(p.delivered for p in crowd) - delivered_before
        return result
    finally:
        await asyncio.gather(*(p.close() for p in crowd), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--endpoints-file", default=None)
    args = parser.parse_args()
    endpoints = load_endpoints(args.endpoints_file)
    users = sign_up(endpoints["http_api"], args.publishers * (1 + args.subscribers))
    result = asyncio.run(run_load(endpoints, users, args.publishers, args.seconds, args.subscribers))
    print(json.dumps(result.figures(), indent=2))


if __name__ == "__main__":
    main()

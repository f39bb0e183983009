"""Publish benchmarks on the local cloud: publish-to-delivery latency, deliveries per second beside a raw
`websockets` broadcast to the same number of clients (measured in the same run), and the time of one
two-phase commit (the state machine execution alone). Prints the figures and writes results/publish.json.

The cloud runs in its own process (tests/bench/conftest.py); the subscriber sockets live in this one, on
one asyncio loop. Subscribers are S users with C sockets each (S * C = the topic's connected sockets):
every socket of a subscribed user gets the notification, so the fan-out work is per socket.
"""
from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest
from websockets.asyncio.client import connect

from infra.client import HttpApi

pytestmark = pytest.mark.timeout(600)

PASSWORD = "bench password"
# topic size -> (users, sockets per user, sequential publishes timed, publishes fired at once for throughput)
# (bursts stay small: on this 2-core machine a burst of 20 concurrent two-phase commits hits the prepare timeout)
SIZES = {1: (1, 1, 10, 5), 100: (10, 10, 5, 5), 1000: (50, 20, 3, 5)}
TWO_PHASE_COMMITS = 10

# a raw broadcast server: every client but the controller gets `count` frames as fast as websockets can send
RAW_SERVER = """
import asyncio, json, sys
import websockets
from websockets.asyncio.server import serve

clients = set()

async def handler(ws):
    clients.add(ws)
    try:
        async for message in ws:
            count = int(message)
            receivers = [c for c in clients if c is not ws]
            for i in range(count):
                websockets.broadcast(receivers, json.dumps({"type": "notification", "notification": {
                    "id": f"raw-{i}", "topic": "raw", "seq": i + 1, "from": "bench@example.com",
                    "message": f"raw {i}", "to": None, "created_at": "2026-11-25T00:00:00Z"}}))
                await asyncio.sleep(0)
    finally:
        clients.discard(ws)

async def main():
    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


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


class Audience:
    """Sockets that record when each notification (keyed by message) reached each of them."""

    def __init__(self) -> None:
        self.sockets: list = []
        self.arrivals: dict[str, list[float]] = {}
        self.total = 0
        self.changed = asyncio.Event()
        self.readers: list[asyncio.Task] = []

    async def open(self, url: str, count: int) -> None:
        for start in range(0, count, 50):  # bursts of 50: under API Gateway's new-connection rate
            batch = await asyncio.gather(*(connect(url, max_size=None, open_timeout=60)
                                           for _ in range(min(50, count - start))))
            self.sockets.extend(batch)
        self.readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws) -> None:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame.get("type") == "notification":
                self.arrivals.setdefault(frame["notification"]["message"], []).append(now)
                self.total += 1
                self.changed.set()

    async def wait_total(self, total: int, timeout: float) -> float:
        """Wait until `total` deliveries arrived; the time of the last one."""
        deadline = time.perf_counter() + timeout
        while self.total < total:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise AssertionError(f"{self.total} of {total} deliveries within {timeout}s")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
            except TimeoutError:
                pass
        return max(max(times) for times in self.arrivals.values())

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


class Owner:
    """The publisher's socket: sends publish frames and collects their replies by id."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.replies: dict[str, dict] = {}
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame.get("type") == "reply":
                self.replies[frame["id"]] = frame
                self.arrived.set()

    async def request(self, action: str, frame_id: str, **fields) -> None:
        await self.ws.send(json.dumps({"action": action, "id": frame_id, **fields}))

    async def reply(self, frame_id: str, timeout: float = 60) -> dict:
        """The whole reply frame (ok or not) to `frame_id`."""
        deadline = time.perf_counter() + timeout
        while frame_id not in self.replies:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.perf_counter()))
        return self.replies.pop(frame_id)


def ws_url(endpoints: dict, token: str) -> str:
    return f"{endpoints['websocket_api']}?token={urllib.parse.quote(token, safe='')}"


async def measure_topic(endpoints: dict, owner: dict, subscribers: list[dict], per_user: int, timed: int,
                        burst: int) -> dict:
    """Latency of `timed` sequential publishes, then deliveries/s of `burst` publishes fired at once."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    owner_ws = await connect(ws_url(endpoints, owner["token"]), max_size=None)
    publisher = Owner(owner_ws)
    await publisher.request("subscribe", "own", topic=topic)
    assert (await publisher.reply("own"))["data"]["created"] is True
    audience = Audience()
    try:
        for user in subscribers:
            sub_ws = await connect(ws_url(endpoints, user["token"]), max_size=None)
            await sub_ws.send(json.dumps({"action": "subscribe", "id": "s", "topic": topic}))
            assert json.loads(await sub_ws.recv())["ok"]
            await sub_ws.close()
        for user in subscribers:
            await audience.open(ws_url(endpoints, user["token"]), per_user)
        sockets = len(audience.sockets)

        latencies, aborted = [], 0
        for i in range(timed):
            message = f"latency {i}"
            sent = time.perf_counter()
            await publisher.request("publish", f"l{i}", topic=topic, message=message)
            reply = await publisher.reply(f"l{i}", timeout=120)
            if not reply["ok"]:  # counted, not timed: an aborted publish delivers nothing
                aborted += 1
                continue
            await audience.wait_total(audience.total + sockets - len(audience.arrivals.get(message, [])), 60)
            latencies += [(t - sent) * 1000 for t in audience.arrivals[message]]

        before = audience.total
        sent = time.perf_counter()
        for i in range(burst):
            await publisher.request("publish", f"b{i}", topic=topic, message=f"burst {i}")
        replies = [await publisher.reply(f"b{i}", timeout=120) for i in range(burst)]
        committed = sum(1 for r in replies if r["ok"])
        aborted += burst - committed
        last = await audience.wait_total(before + sockets * committed, timeout=120)
        rate = sockets * committed / (last - sent) if committed else 0.0
    finally:
        await audience.close()
        publisher.reader.cancel()
        await owner_ws.close()
    return {"sockets": sockets, "users": len(subscribers), "publishes_timed": timed,
            "latency_p50_ms": round(percentile(latencies, 50), 2),
            "latency_p99_ms": round(percentile(latencies, 99), 2),
            "latency_max_ms": round(max(latencies), 2), "burst_publishes": burst, "aborted_publishes": aborted,
            "notifyx_deliveries_per_s": round(rate, 1)}


async def measure_raw_broadcast(port: int, sockets: int, burst: int) -> float:
    """Deliveries per second of a bare `websockets` broadcast of `burst` frames to `sockets` clients."""
    audience = Audience()
    url = f"ws://127.0.0.1:{port}"
    await audience.open(url, sockets)
    controller = await connect(url)
    try:
        await asyncio.sleep(0.2)  # the server has registered every client
        sent = time.perf_counter()
        await controller.send(str(burst))
        last = await audience.wait_total(sockets * burst, timeout=60)
        return sockets * burst / (last - sent)
    finally:
        await controller.close()
        await audience.close()


def time_two_phase_commits(endpoints: dict, owner: dict, count: int) -> dict:
    """Start the publish state machine directly and time executions from start to SUCCEEDED."""
    sfn = boto3.client("stepfunctions", endpoint_url=endpoints["aws_endpoint"], region_name=endpoints["region"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    machines = [m for m in sfn.list_state_machines()["stateMachines"] if "Publish" in m["name"]]
    assert len(machines) == 1, machines
    arn = machines[0]["stateMachineArn"]
    # a topic of its own: these commits are never fanned out by the gateway, so they must not hold up
    # delivery order on the topics measured above
    topic = f"bench-2pc-{uuid.uuid4().hex[:8]}"

    async def create_topic() -> None:
        async with connect(ws_url(endpoints, owner["token"])) as ws:
            await ws.send(json.dumps({"action": "subscribe", "id": "t", "topic": topic}))
            assert json.loads(await ws.recv())["ok"]

    asyncio.run(create_topic())
    wall, server = [], []
    for i in range(count + 1):  # the first execution is a cold start of every task's function: not counted
        txid = f"pub-{uuid.uuid4().hex}"
        transaction = {"txid": txid, "topic": topic, "publisher": {"id": owner["id"], "email": owner["email"]},
                       "message": f"2pc {i}", "to": None,
                       "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        started = time.perf_counter()
        execution = sfn.start_execution(stateMachineArn=arn, name=txid, input=json.dumps(transaction))
        while True:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.002)
        elapsed = (time.perf_counter() - started) * 1000
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"])["status"] == "committed", described["output"]
        if i:
            wall.append(elapsed)
            server.append((described["stopDate"] - described["startDate"]).total_seconds() * 1000)
    return {"executions": count, "p50_ms": round(statistics.median(wall), 2), "max_ms": round(max(wall), 2),
            "server_p50_ms": round(statistics.median(server), 2),
            "note": "wall time from StartExecution to SUCCEEDED seen by polling DescribeExecution every 2 ms; "
                    "server_* from the execution's startDate/stopDate"}


def test_publish_bench(cloud_process, results_dir, many_file_descriptors):
    endpoints = cloud_process
    started = time.perf_counter()
    users_needed = 1 + sum(users for users, _, _, _ in SIZES.values())
    assert many_file_descriptors > 2 * sum(u * c for u, c, _, _ in SIZES.values()) + 100
    people = sign_up(endpoints["http_api"], users_needed)
    owner, rest = people[0], people[1:]

    # first, while the cloud is idle: after the fan-out phases it is still busy with the sockets' $disconnects
    commit = time_two_phase_commits(endpoints, owner, TWO_PHASE_COMMITS)
    print(f"\ntwo-phase commit (state machine alone): p50 {commit['p50_ms']} ms, max {commit['max_ms']} ms, "
          f"server-side p50 {commit['server_p50_ms']} ms over {commit['executions']} warm executions")

    raw_server = subprocess.Popen([sys.executable, "-c", RAW_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
    try:
        raw_port = int(raw_server.stdout.readline())
        topics = {}
        for size, (users, per_user, timed, burst) in SIZES.items():
            subscribers, rest = rest[:users], rest[users:]
            figures = asyncio.run(measure_topic(endpoints, owner, subscribers, per_user, timed, burst))
            raw = asyncio.run(measure_raw_broadcast(raw_port, figures["sockets"], burst))
            figures["raw_broadcast_deliveries_per_s"] = round(raw, 1)
            figures["ratio_to_raw"] = round(figures["notifyx_deliveries_per_s"] / raw, 4)
            topics[str(size)] = figures
            print(f"\n{size:>5} sockets: publish->delivery p50 {figures['latency_p50_ms']} ms, "
                  f"p99 {figures['latency_p99_ms']} ms; {figures['notifyx_deliveries_per_s']} deliveries/s "
                  f"vs raw websockets {figures['raw_broadcast_deliveries_per_s']}/s "
                  f"(ratio {figures['ratio_to_raw']})")
    finally:
        raw_server.stdin.close()
        raw_server.wait(timeout=10)

    result = {
        "benchmark": "publish",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "topics": topics,
        "two_phase_commit": commit,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    (results_dir / "publish.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {results_dir / 'publish.json'} ({result['duration_s']} s)")
    for figures in topics.values():
        assert figures["latency_p50_ms"] > 0 and figures["notifyx_deliveries_per_s"] > 0

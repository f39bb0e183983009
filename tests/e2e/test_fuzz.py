"""Fuzzing the public surface (issue 9): 10,000 generated hostile WebSocket frames and 1,000 hostile HTTP requests.

Every frame is answered and no socket is closed by one; no answer is a 5xx or carries internals; error answers
stay small; other users' sessions go on working during the run; a full round works afterwards. Seeded, so a
failure replays; bounded in count and time (it runs in well under a minute here).
"""
from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
from urllib.parse import quote, urlsplit

import pytest

from client.sdk import Connection

pytestmark = pytest.mark.timeout(180)

SEED = 20261201
FRAMES = 10_000
REQUESTS = 1_000
SOCKETS = 4
BATCH = 50  # frames in flight per socket: the data plane runs a socket's frames concurrently
ACTIONS = ["subscribe", "unsubscribe", "publish", "history", "ack", "send_email", "generate_avatar", "ping"]
FIELDS = ["topic", "message", "to", "after_seq", "limit", "notification_id", "idempotency_key", "name", "size",
          "type", "subject", "id", "action", "status", "email", "password"]
# what an answer must never carry: our function names, Python's exception text, stack traces, file paths
INTERNALS = re.compile(r"notifyx-|Traceback|File \"|\.py\b|(Key|Type|Value|Attribute|Unicode\w*|Recursion|Runtime)"
                       r"Error|Exception\b|botocore|pynamodb|moto\b|errorMessage|stackTrace|/work/|site-packages")
MAX_ERROR_BYTES = 2_000  # a 300-character message plus an echoed id of up to 128 characters, JSON-escaped


def hostile_strings(rng: random.Random) -> str:
    choices = [
        lambda: "",
        lambda: " ",
        lambda: "x" * rng.choice([1, 64, 65, 129, 255, 5_000, 70_000]),
        lambda: "\U0001F600" * rng.choice([1, 100, 20_000]),
        lambda: "release\n",
        lambda: "²",
        lambda: "٣",
        lambda: "-1",
        lambda: "1e309",
        lambda: "NaN",
        lambda: "\x00\x01\x1b[31m",
        lambda: "a@b.c\n",
        lambda: "ада@пример.рф",
        lambda: "' OR 1=1 --",
        lambda: "../../etc/passwd",
        lambda: "%s%n%x{0}{{}}${jndi:ldap://x}",
        lambda: "<script>alert(1)</script>",
        lambda: "\u202e\ufeff\u200b",
        lambda: "k\ud800",  # a lone surrogate: serialised below as the JSON escape "\ud800"
        lambda: "\udfff" * 3,
        lambda: "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(1, 40))),
    ]
    return rng.choice(choices)()


def hostile_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(12)
    if kind < 4:
        return hostile_strings(rng)
    if kind == 4:
        return rng.choice([0, -1, 1, 2**31, 2**53, 2**63, 10**40, -(10**40), 3.5, 1e308, -0.0])
    if kind == 5:
        return rng.choice([True, False, None])
    if kind == 6 and depth < 3:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 7 and depth < 3:
        return {hostile_strings(rng)[:20]: hostile_value(rng, depth + 1) for _ in range(rng.randrange(0, 3))}
    if kind == 8:
        return ["x@example.com"] * rng.choice([1, 51, 200])
    if kind == 9:
        return rng.choice(["news", "fz-" + str(rng.randrange(50)), "a" * 64, "a" * 65, "has space"])
    if kind == 10:
        return rng.choice(["16", "512", "513", "github", "identicon", "IDENTICON", "pub-0", "idem-x"])
    return rng.randrange(-5, 200)


def nested(depth: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"action": "ping", "x": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def hostile_frame(rng: random.Random, victim_topic: str) -> str | bytes:
    """One generated frame, as sent on the wire."""
    roll = rng.random()
    if roll < 0.05:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if roll < 0.10:
        return rng.choice(["", "null", "[]", "42", '"ping"', "{", '{"action": "ping"', "}{", "\x00",
                           '{"action": "ping"}{"action": "ping"}', "{'action': 'ping'}",
                           '{"action": "\\ud800"}'])
    if roll < 0.12:
        return nested(rng.choice([100, 1_000, 5_000, 10_000]), rng)
    frame: dict = {}
    action_roll = rng.random()
    if action_roll < 0.75:
        frame["action"] = rng.choice(ACTIONS)
    elif action_roll < 0.90:
        frame["action"] = hostile_value(rng)
    if rng.random() < 0.7:
        frame["id"] = rng.choice([f"f{rng.randrange(10**6)}", hostile_value(rng)])
    for field in rng.sample(FIELDS, rng.randrange(0, 6)):
        frame[field] = hostile_value(rng)
    if frame.get("action") == "publish":
        # never a topic the fuzzer owns: a publish it may make is refused before any two-phase commit
        frame["topic"] = rng.choice([victim_topic, "no-such-topic", hostile_value(rng)])
    if frame.get("action") == "send_email" and rng.random() < 0.9:
        frame["message"] = hostile_strings(rng) or "x\ud800"
    if frame.get("action") == "generate_avatar" and rng.random() < 0.9:
        frame["size"] = rng.choice(["²", "0", 10**40, -3, "16\n", [16], 513, hostile_value(rng)])
    text = json.dumps(frame)  # ensure_ascii: a lone surrogate becomes its "\ud800" escape, as an attacker sends it
    return text if len(text) < 120_000 else text[:1_000]


def check_answer(raw: str | bytes, problems: list[str]) -> None:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        frame = json.loads(text)
    except ValueError:
        problems.append(f"an answer that is not JSON: {text[:120]!r}")
        return
    if not isinstance(frame, dict):
        problems.append(f"an answer that is not an object: {text[:120]!r}")
        return
    error = frame.get("error") if frame.get("type") in ("error", "reply") else None
    if "type" not in frame:  # API Gateway's own frames: "Forbidden", "Internal server error", timeouts
        problems.append(f"a gateway error frame: {text[:200]}")
    elif isinstance(error, dict):
        if error.get("code") not in ("invalid_request", "unauthorized", "forbidden", "not_found", "conflict",
                                     "aborted", "payload_too_large", "rate_limited"):
            problems.append(f"error code {error.get('code')!r} for bad input: {text[:200]}")
        if len(text.encode()) > MAX_ERROR_BYTES:
            problems.append(f"an error answer of {len(text.encode())} bytes: {text[:120]}")
    if INTERNALS.search(text):
        problems.append(f"internals in an answer: {text[:300]}")


def fuzz_socket(conn: Connection, frames: list, problems: list[str], lock: threading.Lock) -> None:
    mine: list[str] = []
    try:
        for start in range(0, len(frames), BATCH):
            batch = frames[start:start + BATCH]
            for frame in batch:
                conn.send_frame(frame)
            for _ in batch:  # exactly one answer per frame, in any order
                check_answer(conn.ws.recv(timeout=30), mine)
    except Exception as e:  # noqa: BLE001 - a closed socket or a missing answer is what this test looks for
        mine.append(f"socket failed after frames were sent: {type(e).__name__}: {e}")
    with lock:
        problems.extend(mine)


class Victim:
    """Another user going about their business during the fuzz: publishes, gets their live delivery, mails."""

    def __init__(self, new_user, topic_name):
        self.owner, self.reader = new_user("victim"), new_user("reader")
        self.topic = topic_name("victim")
        self.owner_conn, self.reader_conn = self.owner.connect(), self.reader.connect()
        assert self.owner.subscribe(self.owner_conn, self.topic)["created"] is True
        self.reader.subscribe(self.reader_conn, self.topic)
        self.problems: list[str] = []
        self.rounds = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                published = self.owner_conn.request("publish", topic=self.topic, message=f"round {self.rounds}")
                delivered = self.reader_conn.next_notification(timeout=20)
                if delivered["seq"] != published["seq"]:
                    self.problems.append(f"delivered seq {delivered['seq']}, published {published['seq']}")
                self.owner_conn.request("ping")
                self.rounds += 1
            except Exception as e:  # noqa: BLE001 - any failure of the victim's session is a finding
                self.problems.append(f"{type(e).__name__}: {e}")
                return
            self.stop.wait(0.3)


def test_hostile_websocket_frames_are_all_answered_and_hurt_nobody(cloud, new_user, topic_name):
    rng = random.Random(SEED)
    victim = Victim(new_user, topic_name)
    attacker = new_user("attacker")
    sockets = [attacker.connect() for _ in range(SOCKETS)]
    frames = [hostile_frame(rng, victim.topic) for _ in range(FRAMES)]
    problems: list[str] = []
    lock = threading.Lock()
    victim_thread = threading.Thread(target=victim.run)
    victim_thread.start()
    started = time.monotonic()
    try:
        workers = [threading.Thread(target=fuzz_socket, args=(conn, frames[i::SOCKETS], problems, lock))
                   for i, conn in enumerate(sockets)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        victim.stop.set()
        victim_thread.join()
    took = time.monotonic() - started
    assert not problems, f"{len(problems)} problems in {FRAMES} frames, e.g.: " + "\n".join(problems[:10])
    assert not victim.problems and victim.rounds >= 1, victim.problems
    for conn in sockets:  # no socket was closed by what it was sent
        assert conn.request("ping") == {"pong": True}
    # nothing the attacker sent switched a service off for the victim
    assert victim.owner_conn.request("send_email", to=victim.reader.email, message="after the fuzz")["status"] \
        == "queued"
    assert victim.owner_conn.request("generate_avatar", name="victim", size=32)["size"] == 32
    print(f"\n{FRAMES} frames on {SOCKETS} sockets in {took:.1f} s; the victim published {victim.rounds} times")


# ---------------------------------------------------------------- HTTP


ROUTES = [("POST", "/users"), ("POST", "/users/login"), ("DELETE", "/users/logout"), ("GET", "/users/self"),
          ("GET", "/topics"), ("POST", "/topics"), ("GET", "/topics/{x}"), ("PATCH", "/topics/{x}"),
          ("GET", "/notifications"), ("POST", "/notifications/{x}/seen"), ("GET", "/counters/self"),
          ("POST", "/mail"), ("GET", "/mail/{x}"), ("GET", "/avatars/{x}.png"), ("GET", "/health")]
QUERY_KEYS = ["topic", "status", "after_seq", "limit", "size", "type", "token"]


def hostile_request(rng: random.Random, token: str) -> tuple[str, str, bytes | None, dict[str, str]]:
    method, path = rng.choice(ROUTES)
    if rng.random() < 0.1:
        method = rng.choice(["PUT", "OPTIONS", "HEAD", "PATCH", "DELETE", "GET", "POST"])
    segment = rng.choice(["news", "a%0a", "%C2%B2", "..%2F..%2Fetc", "%ED%A0%80", "x" * 300, "%00", "a%20b",
                          "%F0%9F%98%80" * 50, "pub-0", "bob"])
    path = path.replace("{x}", segment)
    if rng.random() < 0.7:
        pairs = [(k, hostile_value(rng)) for k in rng.sample(QUERY_KEYS, rng.randrange(1, 4))]
        path += "?" + "&".join(f"{k}={quote(str(v)[:300], safe='', errors='surrogatepass')}" for k, v in pairs)
    headers = {"Content-Type": rng.choice(["application/json", "text/plain", "image/png", "", "application/x"])}
    auth = rng.random()
    if auth < 0.5:
        headers["Authorization"] = f"Bearer {token}"
    elif auth < 0.7:
        headers["Authorization"] = rng.choice(["Bearer", "Bearer ", "Basic abc", "Bearer " + "x" * 2000,
                                               "bearer \u00e9\u00e9"])
    body: bytes | None = None
    if method in ("POST", "PATCH", "PUT", "DELETE"):
        roll = rng.random()
        if roll < 0.6:
            fields = {k: hostile_value(rng) for k in rng.sample(FIELDS + ["name", "to"], rng.randrange(0, 5))}
            body = json.dumps(fields).encode()
        elif roll < 0.7:
            body = ("[" * 5_000 + "]" * 5_000).encode()
        elif roll < 0.8:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        elif roll < 0.9:
            body = rng.choice([b"", b"null", b"[]", b"{", b'{"email": "\\ud800"}', b'"x"', b"\xff\xfe"])
    return method, path, body, headers


def test_hostile_http_requests_get_no_5xx_and_no_internals(cloud, new_user):
    rng = random.Random(SEED + 1)
    user = new_user("http-fuzz")
    base = urlsplit(cloud.endpoints["http_api"])
    requests = [hostile_request(rng, user.token) for _ in range(REQUESTS)]
    problems: list[str] = []
    lock = threading.Lock()

    def worker(chunk):
        mine: list[str] = []
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        for method, path, body, headers in chunk:
            try:
                conn.request(method, base.path + path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (http.client.HTTPException, OSError) as e:
                mine.append(f"{method} {path[:80]}: no answer ({type(e).__name__}: {e})")
                conn.close()
                conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
                continue
            text = payload.decode("utf-8", "replace")
            if status >= 500:
                mine.append(f"{method} {path[:80]}: {status} {text[:200]}")
            if response.getheader("Content-Type", "").startswith("application/json") and INTERNALS.search(text):
                mine.append(f"{method} {path[:80]}: internals in {text[:300]}")
            if status >= 400 and len(payload) > MAX_ERROR_BYTES:
                mine.append(f"{method} {path[:80]}: a {status} of {len(payload)} bytes")
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        conn.close()
        with lock:
            problems.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(requests[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    assert not problems, f"{len(problems)} problems in {REQUESTS} requests, e.g.:\n" + "\n".join(problems[:10])
    print(f"\n{REQUESTS} requests in {took:.1f} s")


def test_a_full_round_works_after_the_fuzz(new_user, topic_name):
    """register -> subscribe -> publish -> live delivery, with fresh users, after everything above."""
    owner, reader = new_user("after-owner"), new_user("after-reader")
    topic = topic_name("after")
    owner_conn, reader_conn = owner.connect(), reader.connect()
    assert owner.subscribe(owner_conn, topic)["created"] is True
    reader.subscribe(reader_conn, topic)
    published = owner_conn.request("publish", topic=topic, message="still standing")
    assert published["status"] == "committed" and published["recipients"] == 2
    assert reader_conn.next_notification(timeout=20)["message"] == "still standing"

"""The fault suite (issue 10): publishes and mails through a real `notifyx up` process with injected faults,
one `kill -9` of the whole local cloud at a random moment, a restart on the same state directory, and then
the invariants.

- 20 publishers publish (closed loop, one WebSocket each) while participants fail, time out and are throttled
  (`--fault`); mails are queued while SES fails 20% of sends (`--fault ses:error:0.2`);
- at a random moment (between a quarter and three quarters of the publishes) the cloud's process group gets
  SIGKILL, as when a laptop dies; it is started again on the same `--state-dir`, clients reconnect;
- after recovery: each publisher's counter equals its committed notifications, every topic's seq is gapless,
  every committed notification is in each subscriber's inbox exactly once, no transaction is left unfinished
  past its lease, every publish a client saw committed is there with its seq; every mail that was accepted is
  sent (0 lost), and SES's count of sent mail shows the duplicates (reported; the goal is 0).

`make test` runs 60 publishes and 60 mails (it must finish in minutes on a 2-core machine); the full size the
issue asks for is NOTIFYX_FAULT_PUBLISHES=1000 NOTIFYX_FAULT_MAILS=1000 (4.5-6 minutes here, 7 December). The
figures are printed (-s) and kept as the test's user properties.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from up_process import UpProcess

from client.sdk import ApiError, Connection, HttpApi

PUBLISHES = int(os.environ.get("NOTIFYX_FAULT_PUBLISHES") or 60)
MAILS = int(os.environ.get("NOTIFYX_FAULT_MAILS") or 60)
PUBLISHERS = 20
SUBSCRIBERS = 2
PASSWORD = "fault suite password"
LEASE_SECONDS = 10
FAULTS = ("PersistParticipant:error:0.03", "CounterParticipant:error:0.03",
          "PersistParticipant:timeout:0.02:seconds=1", "CounterParticipant:throttle:0.05",
          "ses:error:0.2")
# (60 users sign up: their passwords hash at the template's lowest cost, as in the suite's other clouds, conftest.py)
PARAMETERS = (f"TransactionLeaseSeconds={LEASE_SECONDS}", "MailVisibilityTimeoutSeconds=2",
              "MailMaxReceiveCount=50", "PasswordHashCost=10")

pytestmark = pytest.mark.timeout(300 if PUBLISHES + MAILS <= 200 else 1800)


class CloudProcess(UpProcess):
    """`notifyx up` with the suite's faults and parameters; each start draws a new fault seed."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, *[arg for fault in FAULTS for arg in ("--fault", fault)],
                         *[arg for parameter in PARAMETERS for arg in ("--param", parameter)])

    def start(self) -> dict:
        self.env["NOTIFYX_FAULTS_SEED"] = str(random.randrange(1 << 30))
        return super().start()


class Run:
    """What the clients saw, shared by their threads."""

    def __init__(self, cloud: CloudProcess) -> None:
        self.cloud = cloud
        self.up = threading.Event()
        self.up.set()
        self.lock = threading.Lock()
        self.acknowledged: dict[str, tuple[str, int]] = {}  # notification id -> (topic, seq) the client saw
        self.publish_errors: Counter = Counter()
        self.unknown_publishes = 0
        self.mails: list[str] = []
        self.mail_errors: Counter = Counter()
        self.attempted = 0

    def endpoints(self) -> dict:
        self.up.wait(180)
        return self.cloud.endpoints


def _sign_up(http_api: str, label: str) -> dict:
    http = HttpApi(http_api)
    email = f"fault-{label}-{uuid.uuid4().hex[:8]}@example.com"
    http.register(email, PASSWORD)
    session = http.login(email, PASSWORD)
    return {"email": email, "id": session["user"]["id"], "token": session["token"]}


def _publisher(run: Run, user: dict, topic: str, count: int) -> None:
    connection: Connection | None = None
    done = 0
    while done < count:
        try:
            if connection is None:
                connection = Connection(run.endpoints()["websocket_api"], user["token"])
            with run.lock:
                run.attempted += 1
            answer = connection.request("publish", topic=topic, message=f"{topic} #{done}",
                                        idempotency_key=uuid.uuid4().hex, timeout=40)
            with run.lock:
                run.acknowledged[answer["notification_id"]] = (topic, int(answer["seq"]))
        except ApiError as error:  # the publish was refused or rolled back: the client knows it did not commit
            with run.lock:
                run.publish_errors[error.code] += 1
        except Exception:  # noqa: BLE001 - the cloud died under the request: its outcome is unknown to the client
            with run.lock:
                run.unknown_publishes += 1
            if connection is not None:
                try:
                    connection.close()
                except Exception:  # noqa: BLE001, S110
                    pass
            connection = None
            time.sleep(0.5)
        done += 1
    if connection is not None:
        connection.close()


def _mailer(run: Run, user: dict, count: int) -> None:
    sent = 0
    while sent < count:
        try:
            http = HttpApi(run.endpoints()["http_api"], user["token"], timeout=20)
            status, body = http.request("POST", "/mail", {"to": f"rcpt{sent}@example.com", "subject": "fault suite",
                                                          "message": f"mail {sent}"})
            if status == 202:
                with run.lock:
                    run.mails.append(body["mail"]["id"])
            else:
                with run.lock:
                    run.mail_errors[status] += 1
        except Exception:  # noqa: BLE001 - the cloud was down: this one's outcome is unknown, not counted
            with run.lock:
                run.mail_errors["unknown"] += 1
            time.sleep(0.5)
        sent += 1


def _scan(client, table: str) -> list[dict]:
    items, start = [], None
    while True:
        page = client.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def _inbox(http: HttpApi, topic: str) -> list[str]:
    ids, after = [], 0
    while True:
        page = http.inbox(topic=topic, after_seq=after, limit=100)["notifications"]
        ids += [n["id"] for n in page]
        if len(page) < 100:
            return ids
        after = page[-1]["seq"]


def _wait_for_executions(cloud: CloudProcess, seconds: float) -> int:
    """Wait until no publish state machine execution runs; how many still did at the deadline."""
    sfn = cloud.aws("stepfunctions")
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                   if m["name"].endswith("PublishStateMachine"))
    deadline = time.monotonic() + seconds
    while True:
        running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1000)["executions"]
        if not running or time.monotonic() > deadline:
            return len(running)
        time.sleep(1)


def _recover(cloud: CloudProcess, runs: int = 10) -> int:
    """Scheduled runs of TransactionRecovery until one leaves nothing failed; how many it took."""
    event = json.dumps({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    for run in range(1, runs + 1):
        answer = cloud.aws("lambda").invoke(FunctionName="notifyx-TransactionRecovery", Payload=event.encode())
        result = json.loads(answer["Payload"].read() or b"null")
        if not answer.get("FunctionError") and isinstance(result, dict) and not result.get("failed"):
            return run
        time.sleep(1)
    return runs


def _wait_for_mail(cloud: CloudProcess, mail_ids: list[str], stall: float, limit: float) -> dict[str, str]:
    """Wait until no accepted mail is queued, or none was settled (sent or failed) for `stall` seconds, or `limit`
    seconds passed: a mail still queued then is lost. While SES fails 20% of sends the providers' circuits
    (5 failures in 10 s) are open most of the time and mail goes out at a few per second: the queue drains slowly,
    but it drains."""
    table = "notifyx-MailTable"
    ddb = cloud.aws("dynamodb")
    started = last_progress = time.monotonic()
    pending_before = None
    while True:
        status = {i["id"]["S"]: i["status"]["S"] for i in _scan(ddb, table)}
        pending = [m for m in mail_ids if status.get(m) == "queued"]
        now = time.monotonic()
        if pending_before is None or len(pending) < pending_before:
            last_progress, pending_before = now, len(pending)
        if not pending or now - last_progress > stall or now - started > limit:
            return status
        time.sleep(1)


def test_publishes_and_mails_survive_faults_and_a_kill_9(tmp_path, record_property):
    cloud = CloudProcess(tmp_path)
    figures: dict = {"publishes": PUBLISHES, "mails": MAILS, "faults": list(FAULTS)}
    started = time.monotonic()
    try:
        endpoints = cloud.start()
        publishers = [_sign_up(endpoints["http_api"], f"pub{i}") for i in range(PUBLISHERS)]
        subscribers = [_sign_up(endpoints["http_api"], f"sub{i}") for i in range(SUBSCRIBERS)]
        topics = [f"faults-{uuid.uuid4().hex[:6]}-{i}" for i in range(PUBLISHERS)]
        for user, topic in zip(publishers, topics, strict=True):
            with Connection(endpoints["websocket_api"], user["token"]) as connection:
                connection.request("subscribe", topic=topic)
        for user in subscribers:
            with Connection(endpoints["websocket_api"], user["token"]) as connection:
                for topic in topics:
                    connection.request("subscribe", topic=topic)

        run = Run(cloud)
        per_publisher = [PUBLISHES // PUBLISHERS + (1 if i < PUBLISHES % PUBLISHERS else 0) for i in range(PUBLISHERS)]
        threads = [threading.Thread(target=_publisher, args=(run, user, topic, n), daemon=True)
                   for user, topic, n in zip(publishers, topics, per_publisher, strict=True)]
        threads.append(threading.Thread(target=_mailer, args=(run, subscribers[0], MAILS), daemon=True))
        load_started = time.monotonic()
        for thread in threads:
            thread.start()

        # the crash: at a random point between a quarter and three quarters of the publishes
        kill_at = random.randint(PUBLISHES // 4, 3 * PUBLISHES // 4)
        while run.attempted < kill_at and any(t.is_alive() for t in threads[:-1]):
            time.sleep(0.05)
        run.up.clear()
        cloud.kill()
        figures["killed_after_attempts"] = run.attempted
        figures["killed_with_acknowledged"] = len(run.acknowledged)
        figures["killed_with_mails_accepted"] = len(run.mails)
        cloud.start()
        run.up.set()
        for thread in threads:
            thread.join(timeout=900)
        assert not any(t.is_alive() for t in threads), "a client thread is stuck"
        figures["load_seconds"] = round(time.monotonic() - load_started, 1)

        # the mail queue drains (transient SES failures come back after the 2 s visibility timeout)
        mail_started = time.monotonic()
        mail_status = _wait_for_mail(cloud, run.mails, stall=60, limit=120 if MAILS <= 100 else 900)
        figures["mail_drain_seconds"] = round(time.monotonic() - mail_started, 1)
        # publishes whose clients gave up (unavailable after 18 s) may still be retrying their commit: let them end
        figures["executions_still_running"] = _wait_for_executions(cloud, 120)
        # recovery runs as its schedule would (every minute; here at once): every transaction left by a dead or
        # failed flow is finished; a run whose participant calls hit an injected fault leaves it to the next run
        figures["recovery_runs"] = _recover(cloud)
        _check_publishes(cloud, run, publishers, subscribers, topics, figures)
        _check_mail(cloud, run, mail_status, figures)
    finally:
        figures["total_seconds"] = round(time.monotonic() - started, 1)
        figures["start_seconds"] = [round(s, 1) for s in cloud.starts]
        print("\nfault suite:", json.dumps(figures, indent=2))
        record_property("figures", json.dumps(figures))
        cloud.stop()


def _holder(ddb, topic: dict) -> dict:
    """What a failed last_seq check needs: the topic item, its last_seq holder's notification and transaction."""
    txid = topic.get("last_txid", {}).get("S", "")
    if not txid:
        return {"topic": topic}
    notification = ddb.get_item(TableName="notifyx-NotificationsTable", Key={"id": {"S": txid}}, ConsistentRead=True)
    record = ddb.get_item(TableName="notifyx-TransactionsTable", Key={"txid": {"S": txid}}, ConsistentRead=True)
    return {"topic": topic, "notification": notification.get("Item"), "transaction": record.get("Item")}


def _check_publishes(cloud, run, publishers, subscribers, topics, figures) -> None:
    ddb = cloud.aws("dynamodb")
    notifications = _scan(ddb, "notifyx-NotificationsTable")
    committed = [n for n in notifications if n["status"]["S"] == "committed"]
    by_topic: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for n in committed:
        by_topic[n["topic"]["S"]].append((int(n["seq"]["N"]), n["id"]["S"]))
    figures.update({"acknowledged": len(run.acknowledged), "committed": len(committed),
                    "refused_or_rolled_back": dict(run.publish_errors), "unknown_to_client": run.unknown_publishes})
    # per-topic seq is gapless, and the topic's last_seq is its last notification's
    topic_items = {t["name"]["S"]: t for t in _scan(ddb, "notifyx-TopicsTable")}
    for topic in topics:
        seqs = sorted(seq for seq, _ in by_topic[topic])
        assert seqs == list(range(1, len(seqs) + 1)), f"{topic}: seqs {seqs}"
        assert int(topic_items[topic]["last_seq"]["N"]) == len(seqs), _holder(ddb, topic_items[topic])
    # each publisher's counter equals its committed notifications
    counters = {c["user_id"]["S"]: int(c["published"]["N"]) for c in _scan(ddb, "notifyx-CountersTable")
                if c["entry"]["S"] == "total"}
    for user, topic in zip(publishers, topics, strict=True):
        assert counters.get(user["id"], 0) == len(by_topic[topic]), (user["email"], counters.get(user["id"]))
    # every publish the client saw committed is there, with the seq it saw
    ids = {notification_id: (topic, seq) for topic, pairs in by_topic.items() for seq, notification_id in pairs}
    for notification_id, seen in run.acknowledged.items():
        assert ids.get(notification_id) == seen, (notification_id, seen, ids.get(notification_id))
    # no transaction is left unfinished past its lease
    now = time.time()
    unfinished = [t for t in _scan(ddb, "notifyx-TransactionsTable")
                  if t["state"]["S"] in ("preparing", "commit", "abort")]
    figures["unfinished_transactions_within_lease"] = len(unfinished)
    assert not [t for t in unfinished if int(t.get("lease_until", {}).get("N", "0")) < now - 1], unfinished
    # the sockets that died with the process got their $disconnect at the restart; every client closed since
    open_rows = []
    for _ in range(20):
        open_rows = [c["user_id"]["S"] for c in _scan(ddb, "notifyx-ConnectionsTable") if c.get("connections")]
        if not open_rows:
            break
        time.sleep(0.5)
    assert not open_rows, f"connection rows of closed sockets left: {open_rows}"
    # every committed notification is in each subscriber's inbox exactly once
    for user in subscribers:
        http = HttpApi(cloud.endpoints["http_api"], user["token"])
        for topic in topics:
            inbox = _inbox(http, topic)
            assert len(inbox) == len(set(inbox)), f"{topic}: duplicates in {user['email']}'s inbox"
            assert inbox == [i for _, i in sorted(by_topic[topic])], f"{topic}: {user['email']}'s inbox"


def _check_mail(cloud, run, mail_status, figures) -> None:
    accepted = run.mails
    sent = [m for m in accepted if mail_status.get(m) == "sent"]
    failed = [m for m in accepted if mail_status.get(m) == "failed"]
    lost = [m for m in accepted if mail_status.get(m) not in ("sent", "failed")]
    ses_sent = int(cloud.aws("ses").get_send_quota()["SentLast24Hours"])
    sent_total = sum(1 for s in mail_status.values() if s == "sent")  # mails whose POST outcome the client missed too
    figures["mail"] = {"accepted": len(accepted), "sent": len(sent), "failed": len(failed), "lost": len(lost),
                       "not_acknowledged": dict(run.mail_errors), "ses_sends": ses_sent,
                       "duplicates": ses_sent - sent_total}
    assert not lost, f"{len(lost)} accepted mails neither sent nor failed: {lost[:5]}"
    assert not failed, f"{len(failed)} mails failed for good with 50 attempts against 20% transient faults"

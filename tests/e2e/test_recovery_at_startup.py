"""A publish caught mid-flight by a crash is resolved by the restarted cloud itself, within seconds (issue 10:
"Step Functions executions that were running are resolved by transaction recovery at start-up (as after a
lease), not left for a minute"; docs/local-cloud.md, "Persistence: what survives a restart").

A real `notifyx up` whose CounterParticipant answers nothing for two minutes (`--fault
CounterParticipant:timeout:1:seconds=120`, with a prepare timeout longer than that) takes a publish: both
participants prepare (the notification is written invisible, the counter's reservation is made), the flow waits
for the counter's vote. Then `kill -9` of the whole process group, and a restart on the same state without
the fault. Nobody invokes TransactionRecovery: the restarted cloud must find the dead flow (its execution comes
back ABORTED), abort the undecided transaction and roll both participants back, well before the minute of
recovery's schedule and the ten minutes of the transaction's lease. Then the system is consistent: no
notification, no count, the topic's next publish gets seq 1.
"""
from __future__ import annotations

import time
import uuid

import pytest
from up_process import UpProcess

from client.sdk import Connection, HttpApi

pytestmark = pytest.mark.timeout(180)

PASSWORD = "recovery at start-up"
LEASE_SECONDS = 600      # the lease cannot be what resolves it
RESOLVED_WITHIN = 30     # seconds after the restarted cloud is up; recovery's schedule ticks every 60
PARAMETERS = ("--param", f"TransactionLeaseSeconds={LEASE_SECONDS}", "--param", "PrepareTimeoutSeconds=300")
UNFINISHED = ("preparing", "commit", "abort")


def _scan(ddb, table: str) -> list[dict]:
    items, start = [], None
    while True:
        page = ddb.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def _get(ddb, table: str, **key: str) -> dict | None:
    return ddb.get_item(TableName=table, Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True).get("Item")


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def test_a_publish_prepared_at_a_kill_9_is_resolved_by_the_restarted_cloud_within_seconds(tmp_path):
    cloud = UpProcess(tmp_path, *PARAMETERS)
    figures: dict = {}
    try:
        endpoints = cloud.start("--fault", "CounterParticipant:timeout:1:seconds=120")
        http = HttpApi(endpoints["http_api"])
        email = f"recovery-{uuid.uuid4().hex[:8]}@example.com"
        http.register(email, PASSWORD)
        session = http.login(email, PASSWORD)
        user_id, topic = session["user"]["id"], f"recovery-{uuid.uuid4().hex[:6]}"
        connection = Connection(endpoints["websocket_api"], session["token"])
        connection.request("subscribe", topic=topic)
        connection.send_frame({"action": "publish", "id": "p1", "topic": topic, "message": "caught by the crash",
                               "idempotency_key": uuid.uuid4().hex})

        # the moment of the crash: prepared on both sides, no decision, the flow waiting for the counter's vote
        ddb = cloud.aws("dynamodb")

        def prepared() -> list[str]:
            return [t["txid"]["S"] for t in _scan(ddb, "notifyx-TransactionsTable") if t["state"]["S"] == "preparing"
                    and (_get(ddb, "notifyx-NotificationsTable", id=t["txid"]["S"]) or {}).get("status")
                    == {"S": "prepared"}
                    and (_get(ddb, "notifyx-CountersTable", user_id=user_id, entry=f"tx#{t['txid']['S']}") or {})
                    .get("state") == {"S": "prepared"}]

        (txid,) = _wait(prepared, 30, "a transaction prepared by both participants")
        sfn = cloud.aws("stepfunctions")
        machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                       if m["name"].endswith("PublishStateMachine"))
        execution = machine.replace(":stateMachine:", ":execution:") + ":" + txid
        assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
        cloud.kill()
        try:
            connection.close()
        except Exception:  # noqa: BLE001, S110 - its server died
            pass

        restarted = time.monotonic()
        endpoints = cloud.start()  # no fault now, and nobody invokes TransactionRecovery
        figures["start_seconds"] = round(time.monotonic() - restarted, 1)
        ddb, sfn = cloud.aws("dynamodb"), cloud.aws("stepfunctions")
        _wait(lambda: _get(ddb, "notifyx-TransactionsTable", txid=txid)["state"]["S"] not in UNFINISHED,
              RESOLVED_WITHIN, f"transaction {txid} resolved after the restart")
        figures["resolved_seconds_after_start"] = round(time.monotonic() - restarted, 1)
        print("\nrecovery at start-up:", figures)

        record = _get(ddb, "notifyx-TransactionsTable", txid=txid)
        # undecided at the crash, its flow dead: the only consistent end is abort, decided by recovery
        assert record["state"]["S"] == "aborted", record
        assert time.time() < float(record.get("began_at", {}).get("N", "0")) + LEASE_SECONDS, "not by the lease"
        assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
        assert not [t for t in _scan(ddb, "notifyx-TransactionsTable") if t["state"]["S"] in UNFINISHED]
        assert _get(ddb, "notifyx-NotificationsTable", id=txid)["status"]["S"] == "rolled_back"
        assert _get(ddb, "notifyx-CountersTable", user_id=user_id, entry=f"tx#{txid}")["state"]["S"] == "aborted"
        # what the user sees: neither the notification nor a count; the topic's seq was not used
        http = HttpApi(endpoints["http_api"], session["token"])
        assert http.counter()["published"] == 0
        assert http.inbox(topic=topic)["notifications"] == []
        with Connection(endpoints["websocket_api"], session["token"]) as connection:
            answer = connection.request("publish", topic=topic, message="after the restart",
                                        idempotency_key=uuid.uuid4().hex)
        assert int(answer["seq"]) == 1
        assert http.counter()["published"] == 1
        assert [n["seq"] for n in http.inbox(topic=topic)["notifications"]] == [1]
    finally:
        cloud.stop()

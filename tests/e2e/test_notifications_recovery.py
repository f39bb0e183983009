"""Recovery of publish transactions whose flow died after prepare (docs/internals.md, "Recovery").

A dead flow is simulated by running its steps, the way the state machine would have, and then never running the
rest: Begin (a DynamoDB step of the state machine) runs as a state machine of its own, the participants' prepares
and the coordinator's decide are invoked. The cloud runs with a 2 s transaction lease so that recovery may act
quickly.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.timeout(180)

LEASE_SECONDS = 2
SCHEDULED_EVENT = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {},
                   "resources": [], "region": "us-east-1", "account": "123456789012"}


def _transaction(owner, topic: str, message: str) -> dict:
    return {"txid": f"pub-{uuid.uuid4().hex}", "topic": topic, "publisher": {"id": owner.id, "email": owner.email},
            "message": message, "to": None, "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "started": int(time.time())}


def _execute(sfn, machine: str, transaction: dict) -> dict:
    """Start an execution named by the txid and wait for its end: its description."""
    arn = sfn.start_execution(stateMachineArn=machine, name=transaction["txid"],
                              input=json.dumps(transaction))["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, described
        time.sleep(0.05)
    return described


def _begin(cloud, sfn, transaction: dict) -> None:
    """The publish state machine's first steps (Limits, Begin), as deployed, run as a state machine of their own."""
    publish = sfn.describe_state_machine(stateMachineArn=cloud.physical_id("PublishStateMachine"))
    states = json.loads(publish["definition"])["States"]
    begin = {k: v for k, v in states["Begin"].items() if k not in ("Next", "Catch")}
    definition = {"StartAt": "Limits", "States": {"Limits": states["Limits"], "Begin": {**begin, "End": True}}}
    machine = sfn.create_state_machine(name=f"begin-{uuid.uuid4().hex[:12]}", roleArn=publish["roleArn"],
                                       definition=json.dumps(definition))["stateMachineArn"]
    try:
        described = _execute(sfn, machine, transaction)
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)
    assert described["status"] == "SUCCEEDED", described


def _payload(result):
    """The handler's answer, whether invoke returns it decoded or as a Lambda-style Payload."""
    if isinstance(result, dict) and "Payload" in result and hasattr(result["Payload"], "read"):
        import json

        return json.loads(result["Payload"].read())
    return result


def _prepare(cloud, sfn, transaction: dict) -> None:
    _begin(cloud, sfn, transaction)
    for participant, name in (("persist", "PersistParticipant"), ("counter", "CounterParticipant")):
        vote = _payload(cloud.invoke(name, {"op": "prepare", "transaction": transaction}))
        assert vote["participant"] == participant and vote["vote"] == "YES", vote


@pytest.fixture
def lease_cloud(cloud_with):
    """A LocalCloud whose transactions may be recovered 2 s after they begin."""
    cloud = cloud_with(TransactionLeaseSeconds=str(LEASE_SECONDS))
    if not hasattr(cloud, "runtime"):
        pytest.skip("needs the embedded LocalCloud")
    return cloud


def test_flows_that_died_after_prepare_are_recovered_after_their_lease(lease_cloud, aws, new_user, topic_name):
    sfn = aws("stepfunctions")
    owner, subscriber = new_user("owner"), new_user("sub")
    topic = topic_name()
    owner_conn, sub_conn = owner.connect(), subscriber.connect()
    owner.subscribe(owner_conn, topic)
    subscriber.subscribe(sub_conn, topic)
    first = owner_conn.request("publish", topic=topic, message="a normal publish")
    assert owner.published() == 1

    undecided = _transaction(owner, topic, "prepared, then the flow died")
    _prepare(lease_cloud, sfn, undecided)
    decided = _transaction(owner, topic, "commit decided, then the flow died")
    _prepare(lease_cloud, sfn, decided)
    decision = _payload(lease_cloud.invoke("TransactionCoordinator",
                                           {"op": "decide", "decision": "commit", "transaction": decided}))
    assert decision["decision"] == "commit", decision

    # within the lease, recovery leaves both alone: their flows might still be running
    _payload(lease_cloud.invoke("TransactionRecovery", SCHEDULED_EVENT))
    assert [n["id"] for n in subscriber.http.inbox(topic=topic)["notifications"]] == [first["notification_id"]]
    assert owner.published() == 1

    time.sleep(LEASE_SECONDS + 1)
    _payload(lease_cloud.invoke("TransactionRecovery", SCHEDULED_EVENT))

    inbox = [n["id"] for n in subscriber.http.inbox(topic=topic)["notifications"]]
    assert inbox == [first["notification_id"], decided["txid"]]
    assert undecided["txid"] not in inbox
    assert owner.published() == 2
    # the commit recovery finished is pushed live too (no publish frame was waiting to push it)
    assert sub_conn.next_notification(timeout=10)["id"] == first["notification_id"]
    assert sub_conn.next_notification(timeout=10)["id"] == decided["txid"]
    # nothing stays locked: the next publish commits, with the seq after the recovered one, and does not wait
    # for the recovered seq's delivery (its turn came at once: ~8 s before recovery pushed it)
    started = time.monotonic()
    after = owner_conn.request("publish", topic=topic, message="after recovery")
    assert time.monotonic() - started < 5
    assert after["seq"] == first["seq"] + 2
    assert sub_conn.next_notification(timeout=10)["id"] == after["notification_id"]
    assert owner.published() == 3
    # the dead flow coming back late cannot commit what recovery aborted: the first decision wins
    late = _payload(lease_cloud.invoke("TransactionCoordinator",
                                       {"op": "decide", "decision": "commit", "transaction": undecided}))
    assert late["decision"] == "abort", late
    history = sub_conn.request("history", topic=topic)["notifications"]
    assert [n["id"] for n in history] == [first["notification_id"], decided["txid"], after["notification_id"]]


def test_a_flow_whose_commit_lost_to_an_earlier_abort_rolls_back(lease_cloud, aws, new_user, topic_name):
    """Recovery (or anyone) recorded an abort first: the flow's Begin keeps that record, both participants vote YES,
    RecordCommit's condition fails and its Catch asks the coordinator which decision won; the flow rolls back and
    answers the abort's reason."""
    owner, subscriber = new_user("owner"), new_user("sub")
    topic = topic_name()
    owner_conn, sub_conn = owner.connect(), subscriber.connect()
    owner.subscribe(owner_conn, topic)
    subscriber.subscribe(sub_conn, topic)
    transaction = _transaction(owner, topic, "its commit comes too late")
    decided = _payload(lease_cloud.invoke("TransactionCoordinator", {"op": "decide", "decision": "abort",
                                                                     "reason": "aborted", "transaction": transaction}))
    assert decided["decision"] == "abort", decided

    machine = lease_cloud.physical_id("PublishStateMachine")
    sfn = aws("stepfunctions")
    described = _execute(sfn, machine, transaction)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"status": "aborted", "txid": transaction["txid"], "reason": "aborted"}
    history = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert [s for s in entered if s in ("RecordCommit", "ReadDecision", "RecordAbort", "Rollback")] == [
        "RecordCommit", "ReadDecision", "Rollback"], entered
    assert owner.published() == 0
    assert subscriber.http.inbox(topic=topic)["notifications"] == []
    # nothing stays locked: a publish commits
    published = owner_conn.request("publish", topic=topic, message="after the lost commit")
    assert sub_conn.next_notification(timeout=10)["id"] == published["notification_id"]
    assert owner.published() == 1

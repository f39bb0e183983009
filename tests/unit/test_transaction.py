"""The publish transaction's coordinator log and the recovery of flows that stalled past their lease.

The state machine writes its commit path's steps itself (DynamoDB steps of step_functions/publish.asl.json); moto's
interpreter runs them here from their own definitions (tests/unit/machine.py), beside the coordinator's code that
writes the rest.
"""
import json
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from core import config
import machine
from tables import create_tables, physical_name, template
from lambdas import InProcessLambda

LEASE = 30
RETENTION = int(template()["Parameters"]["TransactionRetentionSeconds"]["Default"])
PUBLISHER = {"id": "u-ada", "email": "ada@example.com"}


@pytest.fixture
def transaction_tables(monkeypatch):
    """The coordinator's and the counter's tables on moto, with the lease these tests count in."""
    with mock_aws(config=machine.EXECUTING):
        monkeypatch.setenv("TRANSACTION_LEASE_SECONDS", str(LEASE))
        create_tables(monkeypatch, "TransactionsTable", "CountersTable")
        yield


@pytest.fixture
def coordinator(transaction_tables):
    """The publish state machine's coordinator task handler (decide)."""
    from transaction import coordinator

    return coordinator.handler


@pytest.fixture
def counter(transaction_tables):
    """The counter's real two-phase-commit participant handler."""
    from counter import participant

    return participant.handler


@pytest.fixture
def recovery(transaction_tables):
    """The scheduled recovery's handler."""
    from transaction import recovery

    return recovery.handler


@pytest.fixture
def resolution(transaction_tables):
    """transaction.resolution: finding and resolving stalled transactions."""
    from transaction import resolution

    return resolution


_started = [0]


@pytest.fixture(autouse=True)
def started_now():
    """The gateway's start time of this test's transactions: one reading, so every tx() of the test is the same."""
    _started[0] = int(time.time())


def tx(txid="pub-1", started=None):
    return {"txid": txid, "topic": "news", "publisher": PUBLISHER, "message": "hello", "to": None,
            "created_at": "2026-11-25T14:00:00Z", "started": _started[0] if started is None else started}


def step(name, transaction, data=None):
    """One of the state machine's DynamoDB steps for this transaction, handed ``data`` (the flow's state at that
    step; the transaction by default): "next", "caught" (its Catch), or "failed: <error>"."""
    return machine.run(name, transaction if data is None else data, LEASE)


def iso(text):
    """An ISO 8601 time as the state machine or the coordinator wrote it, in epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def record(txid="pub-1"):
    return boto3.client("dynamodb").get_item(TableName=physical_name("TransactionsTable"),
                                             Key={"txid": {"S": txid}}, ConsistentRead=True).get("Item")


def by_state(state):
    items = boto3.client("dynamodb").query(
        TableName=physical_name("TransactionsTable"), IndexName="by_state",
        KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": {"S": state}})["Items"]
    return [i["txid"]["S"] for i in items]


def published():
    item = boto3.client("dynamodb").get_item(TableName=physical_name("CountersTable"),
                                             Key={"user_id": {"S": PUBLISHER["id"]}, "entry": {"S": "total"}})
    return int(item["Item"]["published"]["N"]) if "Item" in item else 0


def reservation_state(txid="pub-1"):
    item = boto3.client("dynamodb").get_item(TableName=physical_name("CountersTable"),
                                             Key={"user_id": {"S": PUBLISHER["id"]}, "entry": {"S": f"tx#{txid}"}})
    return item["Item"]["state"]["S"] if "Item" in item else None


def flow_state(transaction, votes=None, decision=None):
    """The execution state the state machine hands its tasks after prepare (and after decide)."""
    state = dict(transaction, votes=votes or {"persist": {"participant": "persist", "vote": "YES"},
                                              "counter": {"participant": "counter", "vote": "YES"}})
    if decision:
        state["decision"] = decision
    return state


# ---------------------------------------------------------------- begin (the state machine's step)


def test_begin_records_the_transaction_as_preparing_with_a_lease(transaction_tables):
    transaction = tx()
    assert step("Begin", transaction) == "next"
    item = record()
    assert item["state"]["S"] == "preparing"
    assert int(item["began_at"]["N"]) == transaction["started"]
    assert int(item["lease_until"]["N"]) == transaction["started"] + LEASE
    assert json.loads(item["transaction"]["S"]) == transaction
    assert by_state("preparing") == ["pub-1"]


def test_a_retried_begin_keeps_the_first_record(coordinator):
    first = tx(started=1000)
    step("Begin", first)
    coordinator({"op": "decide", "decision": "abort", "transaction": first}, None)  # recovery, meanwhile
    assert step("Begin", tx(started=2000)) == "caught"  # the machine goes on to Prepare
    item = record()
    assert item["state"]["S"] == "abort" and int(item["began_at"]["N"]) == 1000


@pytest.mark.parametrize("event", [
    {"op": "decide", "decision": "commit"},
    {"op": "decide", "decision": "commit", "transaction": {"topic": "news"}},
    {"op": "begin", "transaction": tx()},  # the state machine's own step now
    {"op": "complete", "outcome": "committed", "transaction": tx()},  # likewise; recovery calls it in-process
    {"op": "launch", "transaction": tx()},
])
def test_malformed_coordinator_events_fail_the_task(coordinator, event):
    with pytest.raises(ValueError):
        coordinator(event, None)


# ---------------------------------------------------------------- decide


def test_the_state_machine_records_a_commit_with_a_lease_for_the_commit_phase(transaction_tables):
    transaction = tx()
    step("Begin", transaction)
    before = time.time()
    assert step("RecordCommit", transaction, flow_state(transaction)) == "next"
    item = record()
    # decided_at: the time the state was entered ($$.State.EnteredTime)
    assert item["state"]["S"] == "commit" and before - 1 <= iso(item["decided_at"]["S"]) <= time.time() + 1
    assert int(item["lease_until"]["N"]) == transaction["started"] + 2 * LEASE
    assert by_state("commit") == ["pub-1"] and by_state("preparing") == []


def test_a_commit_the_state_machine_could_not_record_is_answered_by_the_decision_that_won(coordinator):
    """Recovery aborted first: RecordCommit's condition fails, its Catch goes to ReadDecision (the coordinator's
    decide), which answers the abort; the flow rolls back."""
    step("Begin", tx())
    coordinator({"op": "decide", "decision": "abort", "reason": "aborted", "transaction": tx()}, None)
    assert step("RecordCommit", tx(), flow_state(tx())) == "caught"
    answer = coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    assert answer == {"txid": "pub-1", "decision": "abort", "reason": "aborted"}
    assert record()["state"]["S"] == "abort"


def test_commit_decision_is_recorded(coordinator):
    step("Begin", tx())
    answer = coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    assert answer == {"txid": "pub-1", "decision": "commit", "reason": None}
    assert record()["state"]["S"] == "commit"
    # the flow's votes are not what recovery replays
    assert json.loads(record()["transaction"]["S"]) == tx()


def test_abort_reason_is_the_first_no_vote(coordinator):
    step("Begin", tx())
    votes = {"persist": {"participant": "persist", "vote": "NO", "reason": "forbidden"},
             "counter": {"participant": "counter", "vote": "NO", "reason": "unavailable"}}
    answer = coordinator({"op": "decide", "decision": "abort", "transaction": flow_state(tx(), votes)}, None)
    assert answer == {"txid": "pub-1", "decision": "abort", "reason": "forbidden"}
    assert record()["reason"]["S"] == "forbidden"


def test_abort_reason_skips_yes_votes(coordinator):
    votes = {"persist": {"participant": "persist", "vote": "YES"},
             "counter": {"participant": "counter", "vote": "NO", "reason": "unavailable", "error": "States.Timeout"}}
    answer = coordinator({"op": "decide", "decision": "abort", "transaction": flow_state(tx(), votes)}, None)
    assert answer["reason"] == "unavailable"


def test_abort_without_a_no_vote_is_aborted(coordinator):
    # the Prepare state itself failed: no votes at all
    answer = coordinator({"op": "decide", "decision": "abort",
                                 "transaction": dict(tx(), error={"Error": "States.Runtime"})}, None)
    assert answer == {"txid": "pub-1", "decision": "abort", "reason": "aborted"}


def test_the_first_decision_wins(coordinator):
    step("Begin", tx())
    votes = {"persist": {"participant": "persist", "vote": "NO", "reason": "forbidden"},
             "counter": {"participant": "counter", "vote": "YES"}}
    coordinator({"op": "decide", "decision": "abort", "transaction": flow_state(tx(), votes)}, None)
    late = coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    assert late == {"txid": "pub-1", "decision": "abort", "reason": "forbidden"}
    assert record()["state"]["S"] == "abort"


def test_a_retried_commit_decision_answers_the_same(coordinator):
    step("Begin", tx())
    first = coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    assert coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None) == first
    # and an abort arriving after the commit loses
    assert coordinator({"op": "decide", "decision": "abort", "transaction": tx()}, None)["decision"] == "commit"


def test_decision_must_be_commit_or_abort(coordinator):
    with pytest.raises(ValueError, match="decision"):
        coordinator({"op": "decide", "decision": "maybe", "transaction": tx()}, None)


# ---------------------------------------------------------------- complete


@pytest.mark.parametrize("decision, completion, outcome", [("commit", "CompleteCommit", "committed"),
                                                           ("abort", "CompleteAbort", "aborted")])
def test_complete_finishes_the_record_and_leaves_the_recovery_index(coordinator, decision, completion, outcome):
    transaction = tx()
    step("Begin", transaction)
    coordinator({"op": "decide", "decision": decision, "transaction": flow_state(transaction)}, None)
    assert by_state(decision) == ["pub-1"]
    before = time.time()
    assert step(completion, transaction) == "next"
    assert step(completion, transaction) == "next"  # a retried completion
    item = record()
    assert item["state"]["S"] == outcome
    assert "lease_until" not in item and before - 1 <= iso(item["completed_at"]["S"]) <= time.time() + 1
    assert by_state(decision) == [] and by_state(outcome) == []
    # DynamoDB's Time to Live deletes it TransactionRetentionSeconds (template default: 7 days) after it began
    assert int(item["expires_at"]["N"]) == transaction["started"] + RETENTION


def test_an_abort_recorded_before_the_flow_began_is_completed_by_the_flow(coordinator):
    """A decide without a begin (recovery's, say) leaves began_at, which the completion's expiry counts from."""
    transaction = tx()
    coordinator({"op": "decide", "decision": "abort", "transaction": transaction}, None)
    assert step("Begin", transaction) == "caught"
    assert step("CompleteAbort", transaction) == "next"
    item = record()
    assert item["state"]["S"] == "aborted"
    assert int(item["expires_at"]["N"]) == int(item["began_at"]["N"]) + RETENTION


def test_the_state_machine_cannot_complete_against_the_decision(coordinator):
    """The condition fails; CompleteCommit does not catch it: it is retried, and the execution fails in the end."""
    step("Begin", tx())
    coordinator({"op": "decide", "decision": "abort", "transaction": tx()}, None)
    assert step("CompleteCommit", tx()) == "failed: DynamoDB.ConditionalCheckFailedException"
    assert record()["state"]["S"] == "abort"


def test_recovery_completes_as_the_state_machine_does(coordinator, resolution, clock):
    step("Begin", tx())
    coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    done = resolution.decisions.complete(tx(), "committed")
    assert done == {"txid": "pub-1", "state": "committed"}
    assert resolution.decisions.complete(tx(), "committed") == done
    item = record()
    assert "lease_until" not in item and item["completed_at"]["S"].endswith("Z")
    assert by_state("commit") == []
    # one reading of the clock: the completion's time and its expiry
    assert item["completed_at"]["S"] == datetime.fromtimestamp(clock.at, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    assert int(item["expires_at"]["N"]) == int(clock.at) + RETENTION


def test_complete_must_match_the_decision(coordinator, resolution):
    step("Begin", tx())
    coordinator({"op": "decide", "decision": "abort", "transaction": tx()}, None)
    with pytest.raises(RuntimeError, match="cannot complete"):
        resolution.decisions.complete(tx(), "committed")
    with pytest.raises(RuntimeError, match="cannot complete"):
        resolution.decisions.complete(tx("pub-never-begun"), "aborted")


# ---------------------------------------------------------------- recovery


class Participants:
    """The recovery's invoke seam: the counter runs its real participant in-process; persist's calls are
    recorded (its participant is another service's, exercised end to end on the local cloud)."""

    def __init__(self, counter, failing=()):
        self.counter = counter
        self.failing = set(failing)
        self.calls = []

    def __call__(self, target, event):
        self.calls.append((target, event["op"], event["transaction"]))
        if target in self.failing:
            raise RuntimeError(f"{target} did not answer")
        if target == "COUNTER_PARTICIPANT_FUNCTION":
            return self.counter(event, None)
        assert target == "PERSIST_PARTICIPANT_FUNCTION"
        return {"participant": "persist"}


def prepared(coordinator, counter, transaction):
    """A flow that began and prepared, then died."""
    step("Begin", transaction)
    assert counter({"op": "prepare", "transaction": transaction}, None)["vote"] == "YES"


def test_recovery_leaves_transactions_within_their_lease_alone(coordinator, counter, resolution):
    prepared(coordinator, counter, tx())
    participants = Participants(counter)
    summary = resolution.recover(time.time() + LEASE - 5, participants)
    assert summary == {"recovered": [], "failed": []}
    assert participants.calls == []
    assert record()["state"]["S"] == "preparing"


def test_recovery_aborts_an_expired_prepared_transaction_on_both_participants(coordinator, counter, resolution):
    prepared(coordinator, counter, tx())
    participants = Participants(counter)
    summary = resolution.recover(time.time() + LEASE + 1, participants)
    assert summary == {"recovered": [{"txid": "pub-1", "decision": "abort", "outcome": "aborted"}], "failed": []}
    assert participants.calls == [("PERSIST_PARTICIPANT_FUNCTION", "rollback", tx()),
                                  ("COUNTER_PARTICIPANT_FUNCTION", "rollback", tx())]
    assert reservation_state() == "aborted" and published() == 0
    assert record()["state"]["S"] == "aborted" and record()["reason"]["S"] == "aborted"
    # the flow comes back late: its commit decision loses, its counter prepare votes NO
    late = coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    assert late == {"txid": "pub-1", "decision": "abort", "reason": "aborted"}
    assert counter({"op": "prepare", "transaction": tx()}, None)["vote"] == "NO"
    # and it is not recovered twice
    assert resolution.recover(time.time() + 10 * LEASE, participants)["recovered"] == []


def test_recovery_commits_an_expired_transaction_decided_commit(coordinator, counter, resolution):
    prepared(coordinator, counter, tx())
    coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    participants = Participants(counter)
    summary = resolution.recover(time.time() + LEASE + 1, participants)
    assert summary["recovered"] == [{"txid": "pub-1", "decision": "commit", "outcome": "committed"}]
    assert [(t, op) for t, op, _ in participants.calls] == [("PERSIST_PARTICIPANT_FUNCTION", "commit"),
                                                             ("COUNTER_PARTICIPANT_FUNCTION", "commit")]
    assert reservation_state() == "committed" and published() == 1
    assert record()["state"]["S"] == "committed"


def test_recovery_rolls_back_an_expired_abort_decision(coordinator, counter, resolution):
    prepared(coordinator, counter, tx())
    votes = {"persist": {"participant": "persist", "vote": "NO", "reason": "forbidden"},
             "counter": {"participant": "counter", "vote": "YES"}}
    coordinator({"op": "decide", "decision": "abort", "transaction": flow_state(tx(), votes)}, None)
    participants = Participants(counter)
    summary = resolution.recover(time.time() + LEASE + 1, participants)
    assert summary["recovered"] == [{"txid": "pub-1", "decision": "abort", "outcome": "aborted"}]
    assert reservation_state() == "aborted"
    assert record()["reason"]["S"] == "forbidden"


def test_a_participant_failure_leaves_the_transaction_for_the_next_run(coordinator, counter, resolution):
    prepared(coordinator, counter, tx("pub-1"))
    prepared(coordinator, counter, tx("pub-2"))
    later = time.time() + LEASE + 1
    broken = Participants(counter, failing={"PERSIST_PARTICIPANT_FUNCTION"})
    summary = resolution.recover(later, broken)
    assert summary["recovered"] == []
    assert sorted(f["txid"] for f in summary["failed"]) == ["pub-1", "pub-2"]
    assert record("pub-1")["state"]["S"] == "abort"  # decided, not yet carried out
    # the abort decision renewed the lease; once it passes, a healthy run finishes both
    summary = resolution.recover(time.time() + 2 * LEASE + 2, Participants(counter))
    assert sorted(r["txid"] for r in summary["recovered"]) == ["pub-1", "pub-2"]
    assert {record(t)["state"]["S"] for t in ("pub-1", "pub-2")} == {"aborted"}
    assert {reservation_state(t) for t in ("pub-1", "pub-2")} == {"aborted"}




def test_recovery_handler_invokes_the_participants_named_by_the_template(coordinator, counter, recovery, monkeypatch):
    from core import services

    def persist_rollback(event, context):
        return {"participant": "persist", "txid": event["transaction"]["txid"]}

    lam = InProcessLambda({"notifyx-PersistParticipant": persist_rollback,
                           "notifyx-CounterParticipant": counter})
    monkeypatch.setattr(services, "_lambda", lambda: lam)
    monkeypatch.setenv("PERSIST_PARTICIPANT_FUNCTION", "notifyx-PersistParticipant")
    monkeypatch.setenv("COUNTER_PARTICIPANT_FUNCTION", "notifyx-CounterParticipant")
    prepared(coordinator, counter, tx())
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert recovery(scheduled, None) == {"recovered": [], "failed": []}
    summary = recovery({"now": time.time() + LEASE + 1}, None)
    assert summary["recovered"] == [{"txid": "pub-1", "decision": "abort", "outcome": "aborted"}]
    assert [(name, event["op"]) for name, event in lam.invoked] == [
        ("notifyx-PersistParticipant", "rollback"), ("notifyx-CounterParticipant", "rollback")]
    assert reservation_state() == "aborted"


def test_recovery_does_not_wait_for_the_lease_of_a_flow_that_has_ended(coordinator, counter, resolution):
    prepared(coordinator, counter, tx("pub-dead"))
    prepared(coordinator, counter, tx("pub-alive"))
    participants = Participants(counter)
    summary = resolution.recover(time.time(), participants, ended=lambda txid: txid == "pub-dead")
    assert summary["recovered"] == [{"txid": "pub-dead", "decision": "abort", "outcome": "aborted"}]
    assert record("pub-alive")["state"]["S"] == "preparing"


def test_a_transaction_its_flow_finished_after_the_index_was_read_is_left_alone(coordinator, counter, resolution,
                                                                                 monkeypatch):
    """The recovery index lags (a snapshot; on DynamoDB an eventually consistent index): a flow that ends between
    recovery's read of the index and its resolve has finished the transaction itself. Finishing it again would
    tell the participants again and push the notification live a second time."""
    prepared(coordinator, counter, tx())
    coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)
    listed = list(resolution.TransactionRecord.by_state.query("commit"))  # what recovery read
    step("CompleteCommit", tx())  # its flow, meanwhile
    monkeypatch.setattr(resolution, "stalled", lambda at, ended: listed)
    participants = Participants(counter)
    assert resolution.recover(time.time(), participants) == {"recovered": [], "failed": []}
    assert participants.calls == []  # no participant told again, nothing handed to the gateway to push
    assert record()["state"]["S"] == "committed"


def test_a_flow_has_ended_when_its_execution_has_stopped_and_is_unknown_otherwise(resolution, monkeypatch,
                                                                              stoppable_moto_executions):
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="publish", roleArn="arn:aws:iam::123456789012:role/publish",
        # executions run here (moto's interpreter): one that waits is running until stopped
        definition=json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}})
    )["stateMachineArn"]
    assert resolution.flow_ended("pub-1") is False  # no state machine configured: the lease decides
    monkeypatch.setenv("PUBLISH_STATE_MACHINE_ARN", machine)
    config.forget()  # a function given the state machine: another cold start
    running = sfn.start_execution(stateMachineArn=machine, name="pub-running", input="{}")["executionArn"]
    stopped = sfn.start_execution(stateMachineArn=machine, name="pub-stopped", input="{}")["executionArn"]
    sfn.stop_execution(executionArn=stopped)
    deadline = time.monotonic() + 10  # the interpreter's thread ends the stopped execution
    while sfn.describe_execution(executionArn=stopped)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert resolution.flow_ended("pub-stopped") is True
        assert resolution.flow_ended("pub-running") is False
        assert resolution.flow_ended("pub-never-started") is False
    finally:
        sfn.stop_execution(executionArn=running)


def test_commits_recovery_finishes_are_handed_to_the_gateway_to_push_in_seq_order(coordinator, counter, resolution):
    """Nobody waits on a publish frame for them: recovery asks the gateway service to deliver them live."""
    for txid in ("pub-b", "pub-a"):
        prepared(coordinator, counter, tx(txid))
        coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx(txid))}, None)
    seqs = {"pub-a": 1, "pub-b": 2}

    class WithNotifications(Participants):
        def __call__(self, target, event):
            if target == "GATEWAY_SERVICE_FUNCTION":
                self.calls.append((target, event["op"], event["notification"]))
                return {"ok": True, "data": {"sent": 1}}
            if target == "PERSIST_PARTICIPANT_FUNCTION" and event["op"] == "commit":
                self.calls.append((target, "commit", event["transaction"]))
                txid = event["transaction"]["txid"]
                return {"participant": "persist", "notification": {"id": txid, "topic": "news", "seq": seqs[txid]}}
            return super().__call__(target, event)

    participants = WithNotifications(counter)
    summary = resolution.recover(time.time() + LEASE + 1, participants)
    assert sorted(r["txid"] for r in summary["recovered"]) == ["pub-a", "pub-b"]
    pushed = [(op, n["id"]) for target, op, n in participants.calls if target == "GATEWAY_SERVICE_FUNCTION"]
    assert pushed == [("deliver", "pub-a"), ("deliver", "pub-b")]


def test_a_failed_live_delivery_does_not_fail_the_recovery(coordinator, counter, resolution):
    prepared(coordinator, counter, tx())
    coordinator({"op": "decide", "decision": "commit", "transaction": flow_state(tx())}, None)

    class GatewayDown(Participants):
        def __call__(self, target, event):
            if target == "GATEWAY_SERVICE_FUNCTION":
                raise RuntimeError("the gateway did not answer")
            if target == "PERSIST_PARTICIPANT_FUNCTION":
                return {"participant": "persist", "notification": {"id": "pub-1", "topic": "news", "seq": 1}}
            return super().__call__(target, event)

    participants = GatewayDown(counter)
    summary = resolution.recover(time.time() + LEASE + 1, participants)
    assert summary["recovered"] == [{"txid": "pub-1", "decision": "commit", "outcome": "committed"}]
    assert record()["state"]["S"] == "committed"

"""gateway: connections, action frames and their replies, the publish seam, ordered fan-out to @connections."""
import json
import threading

import boto3
import pytest
from moto import mock_aws

from tables import create_tables
from lambdas import InProcessLambda

ADA = {"user_id": "u-ada", "email": "ada@example.com"}
BOB = {"user_id": "u-bob", "email": "bob@example.com"}
CY = {"user_id": "u-cy", "email": "cy@example.com"}
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"  # moto intercepts @connections on an AWS-looking host
STAGE = "local"




@pytest.fixture
def gw(monkeypatch):
    with mock_aws():
        create_tables(monkeypatch, "ConnectionsTable", "TopicsTable", "SubscriptionsTable", "NotificationsTable",
                      "ReceiptsTable")
        from core import services
        from gateway import actions, connection, delivery, models, publishing
        from persist import participant, service

        monkeypatch.setenv("PERSIST_SERVICE_FUNCTION", "notifyx-PersistService")
        monkeypatch.setattr(services, "_lambda", lambda: InProcessLambda({"notifyx-PersistService": service.handler}))
        yield {"actions": actions, "connection": connection, "delivery": delivery, "models": models,
               "publishing": publishing, "participant": participant.handler}


def context(user, connection_id="conn-1", route="$default"):
    return {"routeKey": route, "connectionId": connection_id, "domainName": DOMAIN, "stage": STAGE,
            "authorizer": {"user_id": user["user_id"], "email": user["email"], "principalId": user["user_id"]}}


def send(gw, user, frame, connection_id="conn-1"):
    """The handler's answer to one client frame, as the client reads it."""
    body = frame if isinstance(frame, str) else json.dumps(frame)
    response = gw["actions"].handler({"requestContext": context(user, connection_id), "body": body}, None)
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def connect(gw, user, connection_id):
    event = {"requestContext": context(user, connection_id, "$connect")}
    assert gw["connection"].on_connect(event, None) == {"statusCode": 200}


def posted(connection_id):
    """The frames moto's @connections recorded for a connection, in order."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    data = apigatewaymanagementapi_backends["123456789012"]["us-east-1"].connections[connection_id].data.decode()
    decoder, frames, at = json.JSONDecoder(), [], 0
    while at < len(data):
        frame, at = decoder.raw_decode(data, at)
        frames.append(frame)
    return frames


def commit(gw, txid, topic="news", to=None, publisher=ADA):
    transaction = {"txid": txid, "topic": topic, "publisher": {"id": publisher["user_id"], "email": publisher["email"]},
                   "message": f"message {txid}", "to": to, "created_at": "2026-11-25T14:00:00.000Z"}
    assert gw["participant"]({"op": "prepare", "transaction": transaction}, None)["vote"] == "YES"
    return gw["participant"]({"op": "commit", "transaction": transaction}, None)["notification"]


# ---------------------------------------------------------------- connections


def test_connect_and_disconnect_track_each_users_live_connections(gw):
    connect(gw, ADA, "c1")
    connect(gw, ADA, "c2")
    connect(gw, BOB, "c3")
    assert sorted(gw["models"].live([ADA["user_id"], BOB["user_id"], CY["user_id"]])) == [
        ("u-ada", "c1"), ("u-ada", "c2"), ("u-bob", "c3")]
    gw["connection"].on_disconnect({"requestContext": context(ADA, "c1", "$disconnect")}, None)
    assert gw["models"].live([ADA["user_id"]]) == [("u-ada", "c2")]


def test_connect_without_an_authorized_user_is_refused(gw):
    assert gw["connection"].on_connect({"requestContext": {"connectionId": "c1"}}, None)["statusCode"] == 401


def test_live_connections_of_many_users_come_in_batches(gw):
    table = boto3.resource("dynamodb").Table("notifyx-ConnectionsTable")
    with table.batch_writer() as batch:
        for i in range(250):
            batch.put_item(Item={"user_id": f"u-{i}", "connections": {f"c-{i}"}})
    live = gw["models"].live([f"u-{i}" for i in range(260)])
    assert len(live) == 250 and ("u-249", "c-249") in live


# ---------------------------------------------------------------- frames


@pytest.mark.parametrize("raw", ["this is not json", "[1, 2, 3]", '{"no_action": true}', '{"action": "teleport"}'])
def test_a_frame_that_is_not_an_action_gets_an_error_frame(gw, raw):
    frame = send(gw, ADA, raw)
    assert frame["type"] == "error" and frame["error"]["code"] == "invalid_request" and frame["error"]["message"]


def test_ping_replies_with_the_frame_id(gw):
    assert send(gw, ADA, {"action": "ping", "id": "p1"}) == {
        "type": "reply", "id": "p1", "action": "ping", "ok": True, "data": {"pong": True}}


def test_an_action_without_an_authorized_user_is_unauthorized(gw):
    response = gw["actions"].handler({"requestContext": {"connectionId": "c1"},
                                      "body": json.dumps({"action": "ping", "id": "p"})}, None)
    reply = json.loads(response["body"])
    assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"


def test_subscribe_history_ack_unsubscribe_round_trip(gw):
    created = send(gw, ADA, {"action": "subscribe", "id": "s1", "topic": "news"})
    assert created["ok"] and created["data"]["created"] is True and created["data"]["can_publish"] is True
    joined = send(gw, BOB, {"action": "subscribe", "id": "s2", "topic": "news"})["data"]
    assert joined == {"topic": "news", "created": False, "owner": ADA["email"], "can_publish": False, "last_seq": 0}
    first, second = commit(gw, "t1"), commit(gw, "t2")
    page = send(gw, BOB, {"action": "history", "topic": "news", "after_seq": first["seq"]})["data"]
    assert [n["id"] for n in page["notifications"]] == ["t2"] and page["last_seq"] == second["seq"]
    acked = send(gw, BOB, {"action": "ack", "id": "a", "notification_id": "t1"})
    assert acked["data"] == {"notification_id": "t1", "status": "seen", "unread": 1}
    assert send(gw, BOB, {"action": "unsubscribe", "topic": "news"})["data"] == {"topic": "news"}
    assert send(gw, BOB, {"action": "history", "topic": "news"})["error"]["code"] == "not_found"


@pytest.mark.parametrize("frame, code", [
    ({"action": "subscribe"}, "invalid_request"),
    ({"action": "subscribe", "topic": "has space"}, "invalid_request"),
    ({"action": "history"}, "invalid_request"),
    ({"action": "history", "topic": "news", "limit": 101}, "invalid_request"),
    ({"action": "ack"}, "invalid_request"),
    ({"action": "ack", "notification_id": "pub-nope"}, "not_found"),
    ({"action": "publish", "topic": "news"}, "invalid_request"),
    ({"action": "publish", "topic": "news", "message": "x" * (64 * 1024 + 1)}, "payload_too_large"),
    ({"action": "publish", "topic": "news", "message": "hi", "to": "bob@example.com"}, "invalid_request"),
    ({"action": "publish", "topic": "news", "message": "hi", "to": ["not an email"]}, "invalid_request"),
    ({"action": "publish", "topic": "news", "message": "hi", "idempotency_key": 42}, "invalid_request"),
    ({"action": "publish", "topic": "nope", "message": "hi"}, "not_found"),
])
def test_bad_input_gets_a_failed_reply_with_the_contract_code(gw, frame, code):
    send(gw, ADA, {"action": "subscribe", "topic": "news"})
    reply = send(gw, ADA, {**frame, "id": "x"})
    assert reply["type"] == "reply" and reply["ok"] is False and reply["action"] == frame["action"], reply
    assert reply["error"]["code"] == code and reply["id"] == "x"


def test_only_the_owner_may_publish(gw):
    send(gw, ADA, {"action": "subscribe", "topic": "news"})
    send(gw, BOB, {"action": "subscribe", "topic": "news"})
    reply = send(gw, BOB, {"action": "publish", "topic": "news", "message": "mine now"})
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden"


# ---------------------------------------------------------------- the publish seam (the state machine itself: e2e)


@pytest.fixture
def state_machine(gw, monkeypatch):
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="publish", roleArn="arn:aws:iam::123456789012:role/sfn",
                                   definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
                                   )["stateMachineArn"]
    monkeypatch.setenv("PUBLISH_STATE_MACHINE_ARN", arn)
    return arn


def finish(execution_arn, output):
    """Ends a moto execution with this output, as the publish state machine does on AWS."""
    from moto.stepfunctions.models import stepfunctions_backends

    backend = stepfunctions_backends["123456789012"]["us-east-1"]
    execution = backend.describe_execution(execution_arn)
    execution.output = json.dumps(output)
    execution.status = "SUCCEEDED"


def test_the_transaction_input_follows_the_internals_doc(gw):
    tx = gw["publishing"].transaction("u-ada", "ada@example.com",
                                      {"topic": "news", "message": "hi", "to": ["Bob@Example.com", "bob@example.com"]})
    assert tx["txid"].startswith("pub-") and tx["to"] == ["bob@example.com"]
    assert tx["publisher"] == {"id": "u-ada", "email": "ada@example.com"} and tx["created_at"].endswith("Z")
    keyed = [gw["publishing"].transaction("u-ada", "a", {"topic": "news", "message": "hi", "idempotency_key": "k"})
             for _ in range(2)]
    assert keyed[0]["txid"] == keyed[1]["txid"] and keyed[0]["txid"].startswith("idem-")
    other = gw["publishing"].transaction("u-bob", "b", {"topic": "news", "message": "hi", "idempotency_key": "k"})
    assert other["txid"] != keyed[0]["txid"]


def test_a_repeated_idempotency_key_waits_for_the_first_execution(gw, state_machine):
    publishing = gw["publishing"]
    tx = publishing.transaction("u-ada", "a", {"topic": "news", "message": "hi", "idempotency_key": "k"})
    execution = state_machine.replace(":stateMachine:", ":execution:") + ":" + tx["txid"]
    output = {"status": "committed", "txid": tx["txid"], "recipients": 2,
              "notification": {"id": tx["txid"], "topic": "news", "seq": 7}}
    results = []
    first = threading.Thread(target=lambda: results.append(publishing.run(tx)))
    first.start()
    threading.Timer(0.2, finish, args=(execution, output)).start()
    first.join(10)
    again = publishing.transaction("u-ada", "a", {"topic": "news", "message": "hi", "idempotency_key": "k"})
    results.append(publishing.run(again))
    assert results == [(output, True), (output, False)]
    described = boto3.client("stepfunctions").describe_execution(executionArn=execution)
    assert json.loads(described["input"]) == tx


def test_an_execution_that_fails_is_unavailable_and_an_abort_is_aborted(gw, state_machine):
    from core.errors import AppError

    publishing = gw["publishing"]
    tx = publishing.transaction("u-ada", "a", {"topic": "news", "message": "hi"})
    execution = state_machine.replace(":stateMachine:", ":execution:") + ":" + tx["txid"]
    threading.Timer(0.1, lambda: boto3.client("stepfunctions").stop_execution(executionArn=execution)).start()
    with pytest.raises(AppError) as failed:
        publishing.run(tx)
    assert failed.value.code == "unavailable"
    with pytest.raises(AppError) as aborted:
        publishing.outcome({"status": "aborted", "txid": tx["txid"], "reason": "forbidden"})
    assert aborted.value.code == "aborted" and "forbidden" in aborted.value.message
    assert publishing.outcome({"status": "committed", "recipients": 3,
                               "notification": {"id": "n", "seq": 4}}) == {
        "notification_id": "n", "seq": 4, "status": "committed", "recipients": 3}


# ---------------------------------------------------------------- fan-out


def test_fan_out_pushes_one_frame_per_live_connection_of_each_recipient(gw):
    for user in (ADA, BOB, CY):
        send(gw, user, {"action": "subscribe", "topic": "news"})
    connect(gw, BOB, "bob-1")
    connect(gw, BOB, "bob-2")
    connect(gw, CY, "cy-1")
    notification = commit(gw, "t1")
    assert gw["delivery"].fan_out(context(ADA), notification) == 3
    for connection_id in ("bob-1", "bob-2", "cy-1"):
        assert posted(connection_id) == [{"type": "notification", "notification": notification}]
    targeted = commit(gw, "t2", to=[CY["email"]])
    assert gw["delivery"].fan_out(context(ADA), targeted) == 1
    assert [f["notification"]["id"] for f in posted("cy-1")] == ["t1", "t2"]
    assert [f["notification"]["id"] for f in posted("bob-1")] == ["t1"]


def test_fan_out_delivers_a_topic_in_seq_order(gw):
    send(gw, ADA, {"action": "subscribe", "topic": "news"})
    send(gw, BOB, {"action": "subscribe", "topic": "news"})
    connect(gw, BOB, "bob-1")
    first, second = commit(gw, "t1"), commit(gw, "t2")
    later = threading.Thread(target=gw["delivery"].fan_out, args=(context(ADA), second))
    later.start()  # seq 2's gateway is first to get there: it must wait for seq 1
    threading.Timer(0.2, gw["delivery"].fan_out, args=(context(ADA), first)).start()
    later.join(10)
    assert [f["notification"]["seq"] for f in posted("bob-1")] == [1, 2]

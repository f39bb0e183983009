"""gateway: connections, action frames and their replies, the publish seam, ordered fan-out to @connections."""
import json
import threading

import boto3
import pytest
from moto import mock_aws

from infra.account import ACCOUNT_ID, REGION
from tables import create_tables, template
from cloudmap import register_services

ADA = {"user_id": "u-ada", "email": "ada@example.com"}
BOB = {"user_id": "u-bob", "email": "bob@example.com"}
CY = {"user_id": "u-cy", "email": "cy@example.com"}
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"  # moto intercepts @connections on an AWS-looking host
STAGE = "local"




@pytest.fixture
def gateway_service(monkeypatch):
    """The gateway's tables on moto, and persist's internal API answering in process (as the gateway calls it)."""
    with mock_aws():
        create_tables(monkeypatch, "ConnectionsTable", "TopicsTable", "SubscriptionsTable", "NotificationsTable",
                      "ReceiptsTable")
        from persist import service

        register_services(monkeypatch, {"PersistService": service.handler})
        yield


@pytest.fixture
def actions(gateway_service):
    """gateway.actions: the $default route's handler of client frames."""
    from gateway import actions

    return actions


@pytest.fixture
def connection(gateway_service):
    """gateway.connection: the $connect and $disconnect handlers."""
    from gateway import connection

    return connection


@pytest.fixture
def delivery(gateway_service):
    """gateway.delivery: fan-out of committed notifications to @connections."""
    from gateway import delivery

    return delivery


@pytest.fixture
def models(gateway_service):
    """gateway.models: the Connections table."""
    from gateway import models

    return models


@pytest.fixture
def publishing(gateway_service):
    """gateway.publishing: the seam to the publish state machine."""
    from gateway import publishing

    return publishing


@pytest.fixture
def participant(gateway_service):
    """persist's two-phase-commit participant handler, to commit notifications for the gateway to push."""
    from persist import participant

    return participant.handler


def context(user, connection_id="conn-1", route="$default"):
    return {"routeKey": route, "connectionId": connection_id, "domainName": DOMAIN, "stage": STAGE,
            "authorizer": {"user_id": user["user_id"], "email": user["email"], "principalId": user["user_id"]}}


def send(actions, user, frame, connection_id="conn-1"):
    """The handler's answer to one client frame, as the client reads it."""
    body = frame if isinstance(frame, str) else json.dumps(frame)
    response = actions.handler({"requestContext": context(user, connection_id), "body": body}, None)
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def connect(connection, user, connection_id):
    event = {"requestContext": context(user, connection_id, "$connect")}
    assert connection.on_connect(event, None) == {"statusCode": 200}


def posted(connection_id):
    """The frames moto's @connections recorded for a connection, in order."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    data = apigatewaymanagementapi_backends[ACCOUNT_ID][REGION].connections[connection_id].data.decode()
    decoder, frames, at = json.JSONDecoder(), [], 0
    while at < len(data):
        frame, at = decoder.raw_decode(data, at)
        frames.append(frame)
    return frames


def commit(participant, txid, topic="news", to=None, publisher=ADA):
    transaction = {"txid": txid, "topic": topic, "publisher": {"id": publisher["user_id"], "email": publisher["email"]},
                   "message": f"message {txid}", "to": to, "created_at": "2026-11-25T14:00:00.000Z"}
    assert participant({"op": "prepare", "transaction": transaction}, None)["vote"] == "YES"
    return participant({"op": "commit", "transaction": transaction}, None)["notification"]


# ---------------------------------------------------------------- connections


def test_connect_and_disconnect_track_each_users_live_connections(connection, models):
    connect(connection, ADA, "c1")
    connect(connection, ADA, "c2")
    connect(connection, BOB, "c3")
    assert sorted(models.live([ADA["user_id"], BOB["user_id"], CY["user_id"]])) == [
        ("u-ada", "c1"), ("u-ada", "c2"), ("u-bob", "c3")]
    connection.on_disconnect({"requestContext": context(ADA, "c1", "$disconnect")}, None)
    assert models.live([ADA["user_id"]]) == [("u-ada", "c2")]


def test_open_connections_are_counted_once_each_whatever_repeats(connection, models):
    def open_now():
        return int(models.Connection.get(models.OPEN, consistent_read=True).open_count)

    connect(connection, ADA, "c1")
    connect(connection, ADA, "c1")  # a repeated $connect counts once
    connect(connection, BOB, "c2")
    assert open_now() == 2
    assert models.add("u-bob", "b", "c3", session="s1") == 3
    assert models.add("u-bob", "b", "c3", session="s1") is None
    connection.on_disconnect({"requestContext": context(ADA, "c1", "$disconnect")}, None)
    connection.on_disconnect({"requestContext": context(ADA, "c1", "$disconnect")}, None)  # best effort, twice
    assert open_now() == 2
    assert models.remove("u-ada", "c1") is None  # a 410 Gone after the $disconnect: already forgotten
    ids, _, still_open = models.end_session("u-bob", "s1")  # logout: c3 closed, c2 (no session) stays
    assert (ids, still_open) == (["c3"], 1)
    assert models.remove("u-bob", "c3", session="s1") is None and open_now() == 1
    assert models.live(["u-ada", "u-bob"]) == [("u-bob", "c2")]
    models.add("u-cy", "c", "c4", session="s2")
    models.add("u-cy", "c", "c5", session="s2")
    assert models.remove("u-cy", "c5") == 2  # its $disconnect came first; the logout below counts c4 only
    assert models.remove("u-bob", "c2") == 1
    assert models.end_session("u-cy", "s2")[1:] == (None, 0)  # the last one closed: the gauge says 0


def test_connect_without_an_authorized_user_is_refused(connection):
    assert connection.on_connect({"requestContext": {"connectionId": "c1"}}, None)["statusCode"] == 401


def test_live_connections_of_many_users_come_in_batches(models):
    table = boto3.resource("dynamodb").Table("notifyx-ConnectionsTable")
    with table.batch_writer() as batch:
        for i in range(250):
            batch.put_item(Item={"user_id": f"u-{i}", "connections": {f"c-{i}"}})
    live = models.live([f"u-{i}" for i in range(260)])
    assert len(live) == 250 and ("u-249", "c-249") in live


# ---------------------------------------------------------------- frames


@pytest.mark.parametrize("raw", ["this is not json", "[1, 2, 3]", '{"no_action": true}', '{"action": "teleport"}'])
def test_a_frame_that_is_not_an_action_gets_an_error_frame(actions, raw):
    frame = send(actions, ADA, raw)
    assert frame["type"] == "error" and frame["error"]["code"] == "invalid_request" and frame["error"]["message"]


def test_ping_replies_with_the_frame_id(actions):
    assert send(actions, ADA, {"action": "ping", "id": "p1"}) == {
        "type": "reply", "id": "p1", "action": "ping", "ok": True, "data": {"pong": True}}


def test_an_action_without_an_authorized_user_is_unauthorized(actions):
    response = actions.handler({"requestContext": {"connectionId": "c1"},
                                      "body": json.dumps({"action": "ping", "id": "p"})}, None)
    reply = json.loads(response["body"])
    assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"


def test_subscribe_history_ack_unsubscribe_round_trip(actions, participant):
    created = send(actions, ADA, {"action": "subscribe", "id": "s1", "topic": "news"})
    assert created["ok"] and created["data"]["created"] is True and created["data"]["can_publish"] is True
    joined = send(actions, BOB, {"action": "subscribe", "id": "s2", "topic": "news"})["data"]
    assert joined == {"topic": "news", "created": False, "owner": ADA["email"], "can_publish": False, "last_seq": 0}
    first, second = commit(participant, "t1"), commit(participant, "t2")
    page = send(actions, BOB, {"action": "history", "topic": "news", "after_seq": first["seq"]})["data"]
    assert [n["id"] for n in page["notifications"]] == ["t2"] and page["last_seq"] == second["seq"]
    acked = send(actions, BOB, {"action": "ack", "id": "a", "notification_id": "t1"})
    assert acked["data"] == {"notification_id": "t1", "status": "seen", "unread": 1}
    assert send(actions, BOB, {"action": "unsubscribe", "topic": "news"})["data"] == {"topic": "news"}
    assert send(actions, BOB, {"action": "history", "topic": "news"})["error"]["code"] == "not_found"


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
def test_bad_input_gets_a_failed_reply_with_the_contract_code(actions, frame, code):
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    reply = send(actions, ADA, {**frame, "id": "x"})
    assert reply["type"] == "reply" and reply["ok"] is False and reply["action"] == frame["action"], reply
    assert reply["error"]["code"] == code and reply["id"] == "x"


def test_only_the_owner_may_publish(actions):
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    send(actions, BOB, {"action": "subscribe", "topic": "news"})
    reply = send(actions, BOB, {"action": "publish", "topic": "news", "message": "mine now"})
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden"


def commits_as_seq_1(actions, monkeypatch, recipients: int) -> None:
    """Ada owns "news", and her next publish commits as notification pub-1, seq 1 (the state machine: e2e)."""
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    output = {"status": "committed", "recipients": recipients,
              "notification": {"id": "pub-1", "topic": "news", "seq": 1}}
    monkeypatch.setattr(actions.publishing, "run", lambda tx: (output, True))


def test_a_committed_publish_is_answered_committed_when_its_fan_out_fails(actions, monkeypatch, caplog):
    """The commit is the publish: a fan-out that fails afterwards (here persist's delivery turn) is logged and
    counted, and the reply still says committed (an error would make the publisher send it again)."""
    commits_as_seq_1(actions, monkeypatch, recipients=1)

    def failing(request_context, committed, user_ids):
        from core.errors import AppError

        raise AppError("unavailable", "persist is unavailable")

    monkeypatch.setattr(actions.delivery, "fan_out", failing)
    reply = send(actions, ADA, {"action": "publish", "id": "p1", "topic": "news", "message": "hi"})
    assert reply["ok"] is True, reply
    assert reply["data"] == {"notification_id": "pub-1", "seq": 1, "status": "committed", "recipients": 1}
    assert "fan-out of news seq 1 failed after its commit" in caplog.text


def test_a_publishers_next_publishes_ask_persist_for_the_topics_owner_no_more(actions, monkeypatch):
    """A topic's owner never changes: the container keeps it (gateway.owners). Non-owners and topics that do not
    exist are refused as before, and a topic persist did not know is asked about again."""
    commits_as_seq_1(actions, monkeypatch, recipients=0)
    monkeypatch.setattr(actions.delivery, "fan_out", lambda request_context, committed, user_ids: 0)
    asked = []
    call = actions.owners.services.call

    def counted(service, op, **kw):
        if op == "topic":
            asked.append(kw)
        return call(service, op, **kw)

    monkeypatch.setattr(actions.owners.services, "call", counted)
    for n in range(3):
        assert send(actions, ADA, {"action": "publish", "id": f"p{n}", "topic": "news", "message": "hi"})["ok"]
    assert asked == [{"topic": "news"}]
    assert send(actions, BOB, {"action": "publish", "topic": "news", "message": "mine"})["error"]["code"] == "forbidden"
    for _ in range(2):
        missing = send(actions, ADA, {"action": "publish", "topic": "later", "message": "hi"})
        assert missing["error"]["code"] == "not_found"
    send(actions, BOB, {"action": "subscribe", "topic": "later"})  # Bob creates it: he owns it
    assert send(actions, BOB, {"action": "publish", "topic": "later", "message": "hi"})["ok"]
    assert asked == [{"topic": "news"}] + [{"topic": "later"}] * 3


def test_the_routes_whose_replies_are_posted_are_the_templates_one_way_routes(actions):
    resources = template()["Resources"]
    answered = {r["Properties"]["RouteId"]["Ref"] for r in resources.values()
                if r["Type"] == "AWS::ApiGatewayV2::RouteResponse"}
    one_way = {r["Properties"]["RouteKey"] for name, r in resources.items()
               if r["Type"] == "AWS::ApiGatewayV2::Route" and "ActionsIntegration" in str(r["Properties"]["Target"])
               and name not in answered}
    assert one_way == actions.POSTED_REPLY_ROUTES == {"publish"}


def test_a_publish_on_its_one_way_route_is_answered_through_connections_before_its_fan_out(actions, monkeypatch):
    commits_as_seq_1(actions, monkeypatch, recipients=0)
    seen_at_fan_out = []
    monkeypatch.setattr(actions.delivery, "fan_out",
                        lambda request_context, committed, user_ids: seen_at_fan_out.append(posted("conn-p")))
    event = {"requestContext": context(ADA, "conn-p", "publish"),
             "body": json.dumps({"action": "publish", "id": "p1", "topic": "news", "message": "hi"})}
    assert actions.handler(event, None) == {"statusCode": 200}  # no route response: nothing more is sent
    reply = {"type": "reply", "id": "p1", "action": "publish", "ok": True,
             "data": {"notification_id": "pub-1", "seq": 1, "status": "committed", "recipients": 0}}
    assert seen_at_fan_out == [[reply]]  # the reply was out before the fan-out began
    assert posted("conn-p") == [reply]


def test_every_answer_on_the_one_way_publish_route_is_posted(actions):
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    for n, body in enumerate([{"action": "publish", "id": "p1", "topic": "news", "message": "not yours"},
                              {"action": "publish", "id": "x" * 1000, "topic": "news", "message": "bad id"},
                              {"action": "publish", "id": "p3", "topic": "news"}]):
        event = {"requestContext": context(BOB, f"conn-b{n}", "publish"), "body": json.dumps(body)}
        assert actions.handler(event, None) == {"statusCode": 200}
        [answer] = posted(f"conn-b{n}")  # one frame, the answer
        assert answer.get("ok") is not True, answer
    assert [posted(f"conn-b{n}")[0]["error"]["code"] for n in range(3)] == ["forbidden", "invalid_request",
                                                                          "invalid_request"]


# ---------------------------------------------------------------- the publish seam (the state machine itself: e2e)


@pytest.fixture
def state_machine(gateway_service, monkeypatch):
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="publish", roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sfn",
                                   definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
                                   )["stateMachineArn"]
    monkeypatch.setenv("PUBLISH_STATE_MACHINE_ARN", arn)
    return arn


def test_the_moto_internals_these_tests_read_and_set_are_where_they_were():
    """posted() reads moto's recorded @connections data and finish() ends an execution through moto's model (no
    API sets an execution's output): an upgrade of moto that moved them must fail here, not as a wrong answer."""
    import inspect

    from moto.apigatewaymanagementapi.models import Connection
    from moto.stepfunctions.models import Execution

    assert "self.data = b\"\"" in inspect.getsource(Connection.__init__)
    execution_init = inspect.getsource(Execution.__init__)
    assert "self.status = " in execution_init and "self.output: str | None = None" in execution_init
    assert "self.stop_date: datetime | None = None" in execution_init


def finish(execution_arn, output):
    """Ends a moto execution with this output, as the publish state machine does on AWS."""
    from moto.core.utils import utcnow
    from moto.stepfunctions.models import stepfunctions_backends

    execution = stepfunctions_backends[ACCOUNT_ID][REGION].describe_execution(execution_arn)
    assert execution.status == "RUNNING", "finish() ends a running execution, as the state machine would"
    execution.output = json.dumps(output)
    execution.status = "SUCCEEDED"
    execution.stop_date = utcnow()


def test_the_transaction_input_follows_the_internals_doc(publishing):
    tx = publishing.transaction("u-ada", "ada@example.com",
                                      {"topic": "news", "message": "hi", "to": ["Bob@Example.com", "bob@example.com"]})
    assert tx["txid"].startswith("pub-") and tx["to"] == ["bob@example.com"]
    assert tx["publisher"] == {"id": "u-ada", "email": "ada@example.com"} and tx["created_at"].endswith("Z")
    keyed = [publishing.transaction("u-ada", "a", {"topic": "news", "message": "hi", "idempotency_key": "k"})
             for _ in range(2)]
    assert keyed[0]["txid"] == keyed[1]["txid"] and keyed[0]["txid"].startswith("idem-")
    other = publishing.transaction("u-bob", "b", {"topic": "news", "message": "hi", "idempotency_key": "k"})
    assert other["txid"] != keyed[0]["txid"]


def test_a_repeated_idempotency_key_waits_for_the_first_execution(publishing, state_machine):
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


def test_the_first_poll_waits_for_about_the_expected_duration_of_a_publish(publishing):
    durations = publishing.Durations()
    assert durations.first_pause(0.0) == 0.02  # nothing seen yet: poll soon
    durations.observed(0.040)
    assert durations.first_pause(0.005) == pytest.approx(0.85 * 0.040 - 0.005)
    durations.observed(0.140)  # a moving average: one slow publish moves it a fifth of the way
    assert durations.expected == pytest.approx(0.8 * 0.040 + 0.2 * 0.140)
    assert durations.first_pause(0.0) == pytest.approx(0.85 * 0.060)
    durations.observed(-1)  # a clock step is no duration
    assert durations.expected == pytest.approx(0.060)
    assert durations.first_pause(1.0) == 0.0  # already past it: poll at once
    for _ in range(5):  # a burst of slow commits...
        durations.observed(2.0)
    assert durations.first_pause(0.0) > 1.0
    durations.observed(0.040)  # ...and the first quick one brings the first poll back at once
    assert durations.first_pause(0.0) == pytest.approx(0.85 * 0.040)
    assert durations.expected > 1.0
    durations.observed(10_000)
    assert durations.first_pause(0.0) == publishing.WAIT_SECONDS


def test_later_polls_are_a_tenth_of_the_expected_duration_apart_and_at_least_5_ms(publishing):
    durations = publishing.Durations()
    assert durations.next_pause() == 0.005  # nothing seen yet
    durations.observed(0.020)  # a quick execution: polled as before, 5 ms apart
    assert durations.next_pause() == 0.005
    for _ in range(20):  # a busy account's slower executions: fewer polls
        durations.observed(0.300)
    assert durations.next_pause() == pytest.approx(0.1 * durations.expected)
    assert 0.025 < durations.next_pause() < 0.031


def test_a_publish_learns_how_long_its_executions_run(publishing, state_machine, monkeypatch):
    learned = publishing.Durations()
    monkeypatch.setattr(publishing, "durations", learned)
    tx = publishing.transaction("u-ada", "a", {"topic": "news", "message": "hi"})
    execution = state_machine.replace(":stateMachine:", ":execution:") + ":" + tx["txid"]
    output = {"status": "committed", "txid": tx["txid"], "recipients": 0,
              "notification": {"id": tx["txid"], "topic": "news", "seq": 1}}
    threading.Timer(0.15, finish, args=(execution, output)).start()
    assert publishing.run(tx) == (output, True)
    described = boto3.client("stepfunctions").describe_execution(executionArn=execution)
    assert learned.expected == pytest.approx((described["stopDate"] - described["startDate"]).total_seconds())
    assert learned.expected >= 0.1


def test_an_execution_that_fails_is_unavailable_and_an_abort_is_aborted(publishing, state_machine):
    from core.errors import AppError

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


def test_fan_out_pushes_one_frame_per_live_connection_of_each_recipient(actions, connection, delivery, participant):
    for user in (ADA, BOB, CY):
        send(actions, user, {"action": "subscribe", "topic": "news"})
    connect(connection, BOB, "bob-1")
    connect(connection, BOB, "bob-2")
    connect(connection, CY, "cy-1")
    notification = commit(participant, "t1")
    assert delivery.fan_out(context(ADA), notification) == 3
    for connection_id in ("bob-1", "bob-2", "cy-1"):
        assert posted(connection_id) == [{"type": "notification", "notification": notification}]
    targeted = commit(participant, "t2", to=[CY["email"]])
    assert delivery.fan_out(context(ADA), targeted) == 1
    assert [f["notification"]["id"] for f in posted("cy-1")] == ["t1", "t2"]
    assert [f["notification"]["id"] for f in posted("bob-1")] == ["t1"]


def test_a_fan_out_traces_its_first_posts_and_sums_up_the_others(actions, connection, delivery, participant,
                                                                  monkeypatch):
    """A sampled fan-out's first TRACED_POSTS posts are subsegments; the others are made untraced, and the fan-out's
    subsegment gets the counts."""
    import contextlib
    import threading

    from core import telemetry

    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    send(actions, BOB, {"action": "subscribe", "topic": "news"})
    ids = [f"bob-{i}" for i in range(delivery.TRACED_POSTS + 20)]
    for connection_id in ids:
        connect(connection, BOB, connection_id)
    state, traced, untraced, described = threading.local(), [], [], {}

    @contextlib.contextmanager
    def recording_untraced():
        state.on = True
        try:
            yield
        finally:
            state.on = False

    real_send = delivery._send

    def recording_send(post):
        (untraced if getattr(state, "on", False) else traced).append(post[2])
        return real_send(post)

    monkeypatch.setattr(telemetry, "untraced", recording_untraced)
    monkeypatch.setattr(delivery, "_send", recording_send)
    monkeypatch.setattr(telemetry, "describe", lambda **figures: described.update(figures))
    assert delivery.fan_out(context(ADA), commit(participant, "t1")) == len(ids)
    assert len(traced) == delivery.TRACED_POSTS and len(untraced) == 20
    assert sorted(traced + untraced) == sorted(ids)
    assert described == {"connections": len(ids), "sent": len(ids), "gone": 0, "failed": 0}


def test_fan_out_to_more_connections_than_senders_posts_each_once_and_forgets_the_gone(actions, connection, delivery,
                                                                                      participant, models,
                                                                                      monkeypatch):
    """The senders take connections from one shared list: each connection gets the frame once, the count is of
    frames sent, and a connection found gone (410) is forgotten, whichever sender posted to it."""
    from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend

    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    send(actions, BOB, {"action": "subscribe", "topic": "news"})
    ids = [f"bob-{i}" for i in range(3 * delivery.SENDERS + 5)]
    for connection_id in ids:
        connect(connection, BOB, connection_id)
    gone = set(ids[::7])
    original = ApiGatewayManagementApiBackend.post_to_connection

    def post_to_connection(self, data, connection_id):
        if connection_id in gone:  # what API Gateway answers for a closed socket (moto has no such error)
            from moto.core.exceptions import JsonRESTError

            refused = JsonRESTError("GoneException", f"{connection_id} is gone")
            refused.code = 410
            raise refused
        return original(self, data, connection_id)

    monkeypatch.setattr(ApiGatewayManagementApiBackend, "post_to_connection", post_to_connection)
    notification = commit(participant, "t1")
    assert delivery.fan_out(context(ADA), notification) == len(ids) - len(gone)
    assert all(posted(i) == [{"type": "notification", "notification": notification}] for i in ids if i not in gone)
    assert {c for _, c in models.live([BOB["user_id"]])} == set(ids) - gone


def test_a_seq_the_topic_has_delivered_already_is_not_pushed_again(actions, connection, delivery, participant):
    """Transaction recovery and a slow flow may both finish one commit and ask for its fan-out: once is enough,
    and an old seq pushed after later ones would break the topic's order."""
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    send(actions, BOB, {"action": "subscribe", "topic": "news"})
    connect(connection, BOB, "bob-1")
    first, second = commit(participant, "t1"), commit(participant, "t2")
    assert delivery.fan_out(context(ADA), first) == 1
    assert delivery.fan_out(None, first) == 0  # recovery's push of the same commit
    assert delivery.fan_out(context(ADA), second) == 1
    assert delivery.fan_out(context(ADA), first) == 0  # an old seq, after a later one
    assert [f["notification"]["seq"] for f in posted("bob-1")] == [1, 2]


def test_fan_out_to_the_recipients_its_commit_named_asks_persist_for_no_turn(actions, connection, delivery,
                                                                            participant, monkeypatch):
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    send(actions, BOB, {"action": "subscribe", "topic": "news"})
    connect(connection, BOB, "bob-1")
    first = commit(participant, "t1")
    asked = []
    call = delivery.services.call
    monkeypatch.setattr(delivery.services, "call",
                        lambda service, op, **fields: asked.append(op) or call(service, op, **fields))
    assert delivery.fan_out(context(ADA), first, [BOB["user_id"]]) == 1
    assert asked == ["delivered"]  # and the topic's delivered seq moved on, so seq 2 gets its turn at once
    assert delivery.fan_out(context(ADA), commit(participant, "t2")) == 1
    assert asked == ["delivered", "delivery_turn", "delivered"]
    assert [f["notification"]["seq"] for f in posted("bob-1")] == [1, 2]


def test_a_publish_pushes_to_its_commits_recipients_only_well_inside_its_lease(publishing, monkeypatch):
    """Past half the lease, transaction recovery may have finished and pushed the same commit: ask for the turn."""
    tx = publishing.transaction("u-ada", "a", {"topic": "news", "message": "hi"})
    output = {"status": "committed", "notification": {"id": tx["txid"], "topic": "news", "seq": 1},
              "recipients": 1, "delivery": {"user_ids": ["u-bob"]}}
    assert publishing.recipients_now(output, tx) == ["u-bob"]
    assert publishing.recipients_now({**output, "delivery": None}, tx) is None
    lease = publishing.config.integer("TRANSACTION_LEASE_SECONDS")
    monkeypatch.setattr(publishing.clock, "now", lambda: tx["started"] + lease / 2)
    assert publishing.recipients_now(output, tx) is None


def test_fan_out_delivers_a_topic_in_seq_order(actions, connection, delivery, participant):
    send(actions, ADA, {"action": "subscribe", "topic": "news"})
    send(actions, BOB, {"action": "subscribe", "topic": "news"})
    connect(connection, BOB, "bob-1")
    first, second = commit(participant, "t1"), commit(participant, "t2")
    later = threading.Thread(target=delivery.fan_out, args=(context(ADA), second))
    later.start()  # seq 2's gateway is first to get there: it must wait for seq 1
    threading.Timer(0.2, delivery.fan_out, args=(context(ADA), first)).start()
    later.join(10)
    assert [f["notification"]["seq"] for f in posted("bob-1")] == [1, 2]

"""Hostile input (issue 9): every bad input is answered with a contract code naming the field, never opens a
circuit breaker, never reorders an inbox, and never makes an error reply that quotes it at length or leaks
internals (function names, Python exception text)."""
import json
import os
from dataclasses import dataclass
from typing import Any

import boto3
import pybreaker
import pytest
from chalice.test import Client
from moto import mock_aws

from cloudmap import register_services
from tables import create_tables, physical_name, template

ADA = {"user_id": "u-ada", "email": "ada@example.com"}
BOB = {"user_id": "u-bob", "email": "bob@example.com"}
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
BUCKET = "notifyx-avatars-test"
PASSWORD = "correct horse"
#: each Cloud Map service's (one) instance, whose breaker a test looks at
INSTANCES = {"persist": "persist/persist-1", "mail": "mail/mail-1", "avatar": "avatar/avatar-1"}


@dataclass(frozen=True)
class System:
    """The gateway's actions with persist, mail, avatar and auth behind them, all in this process."""

    actions: Any
    participant: Any
    services: Any
    lam: Any
    apps: Any
    sessions: Any
    users: Any


@pytest.fixture
def system(monkeypatch):
    """The gateway's actions with persist, mail, avatar and auth behind them, all in this process."""
    with mock_aws():
        create_tables(monkeypatch, "ConnectionsTable", "TopicsTable", "SubscriptionsTable", "NotificationsTable",
                      "ReceiptsTable", "MailTable", "UsersTable", "TokensTable")
        queue = boto3.client("sqs").create_queue(QueueName="mail")["QueueUrl"]
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        for name, value in {"MAIL_QUEUE_URL": queue, "AVATAR_BUCKET": BUCKET}.items():
            monkeypatch.setenv(name, value)
        from auth import app as auth_app, sessions, users, verify
        from avatar import app as avatar_app, service as avatar_service
        from core import services
        from gateway import actions
        from mail import app as mail_app, service as mail_service
        from persist import app as persist_app, participant, service as persist_service

        lam = register_services(monkeypatch, {"PersistService": persist_service.handler,
                                              "MailService": mail_service.handler,
                                              "AvatarService": avatar_service.handler,
                                              "AuthVerify": verify.handler})
        yield System(actions=actions, participant=participant.handler, services=services, lam=lam,
                     apps={"auth": auth_app.app, "persist": persist_app.app, "mail": mail_app.app,
                           "avatar": avatar_app.app},
                     sessions=sessions, users=users)


def send(system, frame, user=ADA):
    """The reply frame to one client frame (a str is sent as is)."""
    body = frame if isinstance(frame, str) else json.dumps(frame)
    context = {"routeKey": "$default", "connectionId": "conn-1", "domainName": DOMAIN, "stage": "local",
               "authorizer": {"user_id": user["user_id"], "email": user["email"]}}
    response = system.actions.handler({"requestContext": context, "body": body}, None)
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def error_of(reply):
    assert reply.get("ok") is not True, reply
    return reply["error"]


def commit(system, txid, created_at, topic="news"):
    transaction = {"txid": txid, "topic": topic, "publisher": {"id": ADA["user_id"], "email": ADA["email"]},
                   "message": f"message {txid}", "to": None, "created_at": created_at}
    assert system.participant({"op": "prepare", "transaction": transaction}, None)["vote"] == "YES"
    return system.participant({"op": "commit", "transaction": transaction}, None)["notification"]


def account(system, email):
    """A registered user as the gateway sees them, with a session token for HTTP."""
    user = system.users.register(email, PASSWORD)
    return {"user_id": user.id, "email": user.email, "token": system.sessions.issue(user)["token"]}


def token_for(system, email):
    return account(system, email)["token"]


def http(system, app, method, path, body=None, token=None, headers=None):
    """(status, parsed body) of one request to a service's Chalice app."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with Client(system.apps[app]) as client:
        response = getattr(client.http, method)(path, headers=headers, body=body)
    try:
        return response.status_code, json.loads(response.body)
    except ValueError:
        return response.status_code, response.body


def breaker_state(system, service):
    """The shared state of `service`'s breaker, as every sandbox reads it."""
    from core import breakers

    return breakers.all_states().get(INSTANCES[service], {}).get("state", pybreaker.STATE_CLOSED)


# ---------------------------------------------------------------- 1. bad input never opens a circuit


def test_bad_email_frames_never_switch_email_off_for_everyone(system):
    for _ in range(8):
        error = error_of(send(system, '{"action": "send_email", "to": "bob@example.com", "message": "x\\ud800"}'))
        assert error["code"] == "invalid_request" and "message" in error["message"]
    assert breaker_state(system, "mail") == pybreaker.STATE_CLOSED
    other = send(system, {"action": "send_email", "to": "ada@example.com", "message": "hello"}, user=BOB)
    assert other["ok"] is True and other["data"]["status"] == "queued"


def test_bad_avatar_sizes_never_switch_avatars_off_for_everyone(system):
    for size in ["²", "٣", "1e3", -5, True, [16], "16\n"] * 2:
        error = error_of(send(system, {"action": "generate_avatar", "name": "bob", "size": size}))
        assert error["code"] == "invalid_request" and "size" in error["message"], (size, error)
    assert breaker_state(system, "avatar") == pybreaker.STATE_CLOSED
    other = send(system, {"action": "generate_avatar", "name": "bob", "size": 32}, user=BOB)
    assert other["ok"] is True and other["data"]["size"] == 32


def test_a_service_crash_on_odd_input_is_answered_and_not_counted(system, monkeypatch):
    from avatar import render

    def broken(name, size, kind):
        raise ValueError("secret detail from deep inside")

    monkeypatch.setattr(render, "render", broken)
    for _ in range(8):
        error = error_of(send(system, {"action": "generate_avatar", "name": "carol"}))
        assert error["code"] == "unavailable" and "secret" not in error["message"]
    assert breaker_state(system, "avatar") == pybreaker.STATE_CLOSED


def test_infrastructure_failures_still_open_the_circuit(system, monkeypatch):
    from avatar import gallery
    from botocore.exceptions import EndpointConnectionError

    def down():
        raise EndpointConnectionError(endpoint_url="https://s3.example")

    monkeypatch.setattr(gallery, "_client", down)
    for _ in range(6):
        assert error_of(send(system, {"action": "generate_avatar", "name": "carol"}))["code"] == "unavailable"
    assert breaker_state(system, "avatar") == pybreaker.STATE_OPEN


# ---------------------------------------------------------------- 3. every template route reaches its view


def _chalice_routes():
    """(function, path, method, app module) of every REST event of a Chalice function in template.yaml."""
    for logical_id, resource in template()["Resources"].items():
        props = resource.get("Properties") or {}
        if resource["Type"] != "AWS::Serverless::Function" or not str(props.get("Handler", "")).endswith(".app"):
            continue
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "Api":
                yield logical_id, event["Properties"]["Path"], event["Properties"]["Method"].upper(), \
                    props["Handler"].rsplit(".", 1)[0]


@pytest.mark.parametrize("function, path, method, module", list(_chalice_routes()))
def test_every_template_route_has_a_view_with_the_same_path_and_method(monkeypatch, function, path, method, module):
    import importlib

    # a table's model keeps the name it was imported with: the names the other modules' tables are created with
    for name, value in template()["Globals"]["Function"]["Environment"]["Variables"].items():
        named = physical_name(value["Ref"]) if isinstance(value, dict) and "Ref" in value else f"notifyx-{name.lower()}"
        monkeypatch.setenv(name, os.environ.get(name, named))
    app = importlib.import_module(module).app
    # API Gateway passes the template's resource path; Chalice looks the view up by exactly that string
    assert method in app.routes.get(path, {}), f"{function}: {method} {path} reaches no view of {module}"


def test_post_notification_seen_marks_it_seen(system):
    bob = account(system, BOB["email"])
    token = bob["token"]
    send(system, {"action": "subscribe", "topic": "news"})
    send(system, {"action": "subscribe", "topic": "news"}, user=bob)
    notification = commit(system, "t1", "2026-11-25T14:00:00.000Z")
    from auth import authorizer
    from cloudmap import CONTEXT

    # what API Gateway's TOKEN authorizer put in front of the function
    vouched = authorizer.handler({"type": "TOKEN", "authorizationToken": f"Bearer {token}",
                                  "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/local/POST/x"}, CONTEXT)
    event = {"resource": "/notifications/{id}/seen", "path": "/notifications/t1/seen", "httpMethod": "POST",
             "headers": {"authorization": f"Bearer {token}"}, "multiValueHeaders": {},
             "queryStringParameters": None, "multiValueQueryStringParameters": None,
             "pathParameters": {"id": "t1"}, "stageVariables": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": "/notifications/{id}/seen", "httpMethod": "POST",
                                "path": "/local/notifications/t1/seen", "stage": "local",
                                "authorizer": {**vouched["context"], "principalId": vouched["principalId"]}}}
    response = system.apps["persist"](event, None)
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["notification"] == {**notification, "status": "seen"}


# ---------------------------------------------------------------- 4. inboxes come in seq order


def test_history_and_inbox_are_in_seq_order_whatever_the_publishers_clocks(system):
    bob = account(system, BOB["email"])
    token = bob["token"]
    send(system, {"action": "subscribe", "topic": "news"})
    send(system, {"action": "subscribe", "topic": "news"}, user=bob)
    # concurrent publishes: each took created_at when it started and its seq when it committed
    stamps = ["14:00:03", "14:00:01", "14:00:04", "14:00:02", "14:00:00"]
    for i, stamp in enumerate(stamps):
        assert commit(system, f"t{i}", f"2026-11-25T{stamp}.000Z")["seq"] == i + 1
    history = send(system, {"action": "history", "topic": "news"})["data"]["notifications"]
    assert [n["seq"] for n in history] == [1, 2, 3, 4, 5]
    first = send(system, {"action": "history", "topic": "news", "limit": 2})["data"]["notifications"]
    assert [n["seq"] for n in first] == [1, 2]
    rest = send(system, {"action": "history", "topic": "news", "after_seq": 2, "limit": 2})["data"]["notifications"]
    assert [n["seq"] for n in rest] == [3, 4]
    status, inbox = http(system, "persist", "get", "/notifications?limit=3", token=token)
    assert status == 200 and [n["seq"] for n in inbox["notifications"]] == [1, 2, 3]
    status, inbox = http(system, "persist", "get", "/notifications?topic=news&after_seq=3", token=token)
    assert [n["seq"] for n in inbox["notifications"]] == [4, 5]


# ---------------------------------------------------------------- 5. malformed input: 400 / invalid_request


@pytest.mark.parametrize("query, field", [("after_seq=%C2%B2", "after_seq"), ("limit=%C2%B2", "limit"),
                                          ("after_seq=99999999999999999999999999999999999999999", "after_seq"),
                                          ("limit=0", "limit")])
def test_bad_inbox_queries_are_invalid_requests(system, query, field):
    token = token_for(system, ADA["email"])
    status, body = http(system, "persist", "get", f"/notifications?{query}", token=token)
    assert status == 400 and body["error"]["code"] == "invalid_request" and field in body["error"]["message"]


@pytest.mark.parametrize("path, field", [("/avatars/a%0a.png", "names"), ("/avatars/bob.png?size=%C2%B2", "size"),
                                         ("/avatars/bob.png?size=16%0a", "size")])
def test_bad_avatar_requests_are_invalid_requests(system, path, field):
    status, body = http(system, "avatar", "get", path, headers={"Accept": "image/png"})
    assert status == 400 and body["error"]["code"] == "invalid_request" and field in body["error"]["message"]


def test_an_avatar_name_with_a_trailing_newline_is_refused():
    from avatar import render
    from core.errors import AppError

    with pytest.raises(AppError):
        render.check("a\n", 64, "github")


@pytest.mark.parametrize("app, path, body, field", [
    ("auth", "/users", '{"email": "a\\ud800@example.com", "password": "correct horse"}', "email"),
    ("auth", "/users", '{"email": "ada@example.com", "password": "correct \\udfff horse"}', "password"),
    ("auth", "/users/login", '{"email": "ada@example.com", "password": "\\ud800\\ud800\\ud800\\ud800"}', "password"),
    ("auth", "/users", '{"email": "ada@example.com", "password": "correct horse", "\\ud800": 1}', "field name"),
    ("mail", "/mail", '{"to": "bob@example.com", "message": "x\\ud800"}', "message"),
    ("mail", "/mail", '{"to": "bob@example.com", "message": "x", "subject": ["\\ud800"]}', "subject[0]"),
])
def test_lone_surrogates_in_a_body_are_invalid_requests(system, app, path, body, field):
    token = token_for(system, BOB["email"])
    status, answer = http(system, app, "post", path, body=body, token=token)
    assert status == 400 and answer["error"]["code"] == "invalid_request", answer
    assert field in answer["error"]["message"]


@pytest.mark.parametrize("frame, field", [
    ({"action": "history", "topic": "news", "after_seq": "²"}, "after_seq"),
    ({"action": "history", "topic": "news", "limit": "²"}, "limit"),
    ({"action": "history", "topic": "news", "after_seq": 10**40}, "after_seq"),
    ({"action": "history", "topic": "news", "limit": "3\n"}, "limit"),
    ('{"action": "publish", "topic": "news", "message": "hi", "idempotency_key": "k\\ud800"}', "idempotency_key"),
    ('{"action": "subscribe", "topic": "news\\udc00"}', "topic"),
    ({"action": "ack", "notification_id": "x" * 5000}, "notification_id"),
    ({"action": "ack", "notification_id": ["t1"]}, "notification_id"),
])
def test_malformed_frames_get_invalid_request_naming_the_field(system, frame, field):
    send(system, {"action": "subscribe", "topic": "news"})
    error = error_of(send(system, frame))
    assert error["code"] == "invalid_request" and field in error["message"], error


@pytest.mark.parametrize("action", [["ping"], {"a": 1}, 7, None, True, 1.5])
def test_an_action_that_is_not_a_string_gets_an_error_frame(system, action):
    reply = send(system, {"action": action, "id": "x1"})
    assert reply["type"] == "error" and reply["error"]["code"] == "invalid_request" and reply["id"] == "x1"


# ---------------------------------------------------------------- 6. deep nesting


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_deeply_nested_frame_gets_an_answer(system, depth):
    for body in ("[" * depth + "]" * depth, '{"action": "ping", "x": ' + "[" * depth + "]" * depth + "}",
                 '{"action": "ping", "x": ' + '{"a": ' * depth + "1" + "}" * depth + "}"):
        reply = send(system, body)
        assert reply["type"] in ("error", "reply")
        assert reply.get("ok") is not True or reply["data"] == {"pong": True}
    assert send(system, {"action": "ping", "id": "after"})["data"] == {"pong": True}


# ---------------------------------------------------------------- 7. names are matched whole


@pytest.mark.parametrize("name", ["release\n", "release\r", "\nrelease", "release\n\n"])
def test_a_topic_name_with_a_newline_is_refused(system, name):
    token = token_for(system, ADA["email"])
    status, body = http(system, "persist", "post", "/topics", body=json.dumps({"name": name}), token=token)
    assert status == 400 and body["error"]["code"] == "invalid_request"
    assert error_of(send(system, {"action": "subscribe", "topic": name}))["code"] == "invalid_request"


@pytest.mark.parametrize("email", ["ada@example.com\n", "ada@example.com\r\n"])
def test_an_email_with_a_trailing_newline_is_refused(system, email):
    status, body = http(system, "auth", "post", "/users", body=json.dumps({"email": email, "password": PASSWORD}))
    assert status == 400 and body["error"]["code"] == "invalid_request"


# ---------------------------------------------------------------- 10. bounded error replies


def test_an_unknown_action_is_not_echoed_back_at_length(system):
    action = "\U0001F600" * 30_000  # 120 KB of emoji
    body = json.dumps({"action": action, "id": "big"})
    answer = system.actions.handler({"requestContext": {}, "body": body}, None)["body"]
    assert len(answer) < 1_000 and json.loads(answer)["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("frame", [
    {"action": "send_email", "to": "x" * 100_000, "message": "hi"},
    {"action": "send_email", "to": ["\U0001F600" * 20_000], "message": "hi"},
    {"action": "publish", "topic": "news", "message": "hi", "to": ["y" * 50_000]},
    {"action": "ack", "notification_id": "z" * 100_000},
    {"action": "subscribe", "topic": "\U0001F600" * 30_000},
    {"action": "generate_avatar", "name": "\U0001F600" * 30_000, "size": "9" * 30_000},
    {"action": "history", "topic": "news", "limit": "7" * 50_000},
])
def test_error_replies_stay_small_whatever_the_input(system, frame):
    send(system, {"action": "subscribe", "topic": "news"})
    answer = system.actions.handler({"requestContext": {"authorizer": ADA}, "body": json.dumps(frame)}, None)
    assert len(answer["body"]) < 1_000, answer["body"][:200]
    assert json.loads(answer["body"])["ok"] is False


def test_an_oversized_frame_id_is_refused_without_being_echoed(system):
    reply = send(system, {"action": "ping", "id": "i" * 100_000})
    assert reply["type"] == "error" and reply["error"]["code"] == "invalid_request" and "id" not in reply
    assert len(json.dumps(reply)) < 1_000


# ---------------------------------------------------------------- 11. no internals in error replies


def test_an_unavailable_service_is_named_plainly(system, monkeypatch):
    monkeypatch.delitem(system.lam.handlers, "notifyx-MailService")
    error = error_of(send(system, {"action": "send_email", "to": "bob@example.com", "message": "hi"}))
    assert error["code"] == "unavailable"
    assert "notifyx-" not in error["message"] and "Function not found" not in error["message"]
    for _ in range(6):
        error = error_of(send(system, {"action": "send_email", "to": "bob@example.com", "message": "hi"}))
    assert breaker_state(system, "mail") == pybreaker.STATE_OPEN
    assert error["code"] == "unavailable" and "notifyx-" not in error["message"] and "circuit" not in error["message"]


def test_a_crashing_function_leaks_no_exception_text(system, monkeypatch):
    def crash(event, context):
        raise RuntimeError("KeyError: 'secret_column' in /var/task/mail/outbox.py")

    system.lam.handlers["notifyx-MailService"] = crash
    error = error_of(send(system, {"action": "send_email", "to": "bob@example.com", "message": "hi"}))
    assert error["code"] == "unavailable" and "secret" not in error["message"] and "notifyx" not in error["message"]


def test_an_action_that_raises_unexpectedly_answers_a_contract_code(system, monkeypatch):
    from gateway import actions

    def broken(caller, frame):
        raise KeyError("secret_column")

    monkeypatch.setitem(actions.ACTIONS, "ping", broken)
    error = error_of(send(system, {"action": "ping"}))
    assert error["code"] == "unavailable" and "secret" not in error["message"]


def test_an_http_route_that_raises_unexpectedly_answers_a_contract_code(system, monkeypatch):
    from persist import topics

    def broken():
        raise KeyError("secret_column")

    monkeypatch.setattr(topics, "listing", broken)
    token = token_for(system, ADA["email"])
    status, body = http(system, "persist", "get", "/topics", token=token)
    assert status == 503 and body["error"]["code"] == "unavailable" and "secret" not in json.dumps(body)


def test_unknown_error_codes_from_a_service_become_unavailable():
    from core.errors import AppError

    assert AppError.from_dict({"code": "internal", "message": "Traceback ..."}).to_dict()["code"] == "unavailable"

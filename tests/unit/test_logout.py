"""Logout ends the session everywhere at once: its WebSockets are closed through @connections DELETE, and a
frame still arriving on one of them is unauthorized; the user's other sessions keep working."""
import json
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from cloudmap import register_services
from tables import create_tables

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"  # moto answers @connections on an AWS-looking host
PASSWORD = "correct horse"


@dataclass(frozen=True)
class LogoutCloud:
    """The auth REST API with the gateway behind it: its handlers, the @connections deleted, the in-process Lambda."""

    http: Any
    authorizer: Any
    connection: Any
    actions: Any
    deleted: Any
    lam: Any


@pytest.fixture
def cloud(monkeypatch):
    with mock_aws():
        create_tables(monkeypatch, "UsersTable", "TokensTable", "ConnectionsTable", "TopicsTable",
                      "SubscriptionsTable", "NotificationsTable", "ReceiptsTable")
        from auth import app, authorizer
        from gateway import actions, connection, service as gateway_service
        from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
        from persist import service as persist_service

        deleted: list[str] = []
        original = ApiGatewayManagementApiBackend.delete_connection

        def delete_connection(self, connection_id):
            deleted.append(connection_id)
            return original(self, connection_id)

        monkeypatch.setattr(ApiGatewayManagementApiBackend, "delete_connection", delete_connection)
        lam = register_services(monkeypatch, {"GatewayService": gateway_service.handler,
                                              "PersistService": persist_service.handler})
        with Client(app.app) as client:
            yield LogoutCloud(http=client.http, authorizer=authorizer, connection=connection, actions=actions,
                              deleted=deleted, lam=lam)


def post(http, path, body, token=None):
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return http.post(path, headers=headers, body=json.dumps(body))


def login(cloud, email="ada@example.com"):
    post(cloud.http, "/users", {"email": email, "password": PASSWORD})
    return json.loads(post(cloud.http, "/users/login", {"email": email, "password": PASSWORD}).body)["token"]


def logout(cloud, token):
    return cloud.http.delete("/users/logout", headers={"Authorization": f"Bearer {token}"}).status_code


def open_socket(cloud, token, connection_id):
    """$connect as API Gateway runs it: the authorizer, then the route with the authorizer's context."""
    allowed = cloud.authorizer.handler({"queryStringParameters": {"token": token},
                                           "methodArn": "arn:aws:execute-api:us-east-1:1:api/local/$connect"}, None)
    context = {"connectionId": connection_id, "domainName": DOMAIN, "stage": "local", "routeKey": "$connect",
               "authorizer": {**allowed["context"], "principalId": allowed["principalId"]}}
    assert cloud.connection.on_connect({"requestContext": context}, None) == {"statusCode": 200}
    return context


def frame(cloud, context, body):
    event = {"requestContext": {**context, "routeKey": body["action"]}, "body": json.dumps(body)}
    return json.loads(cloud.actions.handler(event, None)["body"])


def test_logout_closes_the_sockets_opened_with_that_token_only(cloud):
    first, second = login(cloud), login(cloud)
    a = open_socket(cloud, first, "conn-a")
    b = open_socket(cloud, first, "conn-b")
    other = open_socket(cloud, second, "conn-other")
    assert logout(cloud, first) == 204
    assert sorted(cloud.deleted) == ["conn-a", "conn-b"]
    for context in (a, b):  # a frame already on its way when the socket closed
        reply = frame(cloud, context, {"action": "subscribe", "topic": "news", "id": "late"})
        assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"
    assert frame(cloud, other, {"action": "subscribe", "topic": "news"})["ok"] is True


def test_the_authorizer_context_names_the_session_not_the_token(cloud):
    token = login(cloud)
    context = open_socket(cloud, token, "conn-a")
    session = context["authorizer"]["session"]
    assert session and token not in session and len(session) == 32


def test_logout_answers_204_even_if_the_gateway_cannot_be_reached(cloud):
    token = login(cloud)
    open_socket(cloud, token, "conn-a")
    del cloud.lam.handlers["notifyx-GatewayService"]
    assert logout(cloud, token) == 204
    assert cloud.http.get("/users/self", headers={"Authorization": f"Bearer {token}"}).status_code == 401

"""No other site's web page can use a visitor's browser against the local cloud (issue 9, item 9): the emulator
refuses every browser request, the WebSocket port every foreign Origin and unsigned @connections calls, and the
REST API every Origin but the page's own."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(60)
EVIL = "https://evil.example"


def call(url: str, *, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_a_web_page_cannot_write_a_table_through_the_emulator(local_cloud, aws):
    table = local_cloud.physical_id("TokensTable")
    forged = hashlib.sha256(b"forged token").hexdigest()
    item = {"token_hash": {"S": forged}, "user_id": {"S": "u-victim"}, "email": {"S": "victim@example.com"},
            "created_at": {"S": "2026-12-01T00:00:00Z"}, "expires_at": {"N": "9999999999"}}
    endpoint = local_cloud.endpoints["aws_endpoint"]
    status, headers, _ = call(endpoint, method="OPTIONS", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-amz-target"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = call(endpoint, method="POST", data=json.dumps({"TableName": table, "Item": item}).encode(),
                              headers={"Origin": EVIL, "Content-Type": "application/x-amz-json-1.0",
                                       "X-Amz-Target": "DynamoDB_20120810.PutItem",
                                       "Authorization": "AWS4-HMAC-SHA256 Credential=x/20261201/us-east-1/dynamodb/"
                                                        "aws4_request, SignedHeaders=host, Signature=bogus"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    assert "Item" not in aws("dynamodb").get_item(TableName=table, Key={"token_hash": {"S": forged}})


def test_an_unsigned_json_protocol_request_is_refused_as_aws_refuses_it(local_cloud, aws):
    """Without a signature moto could only route a request by its host (a DynamoDB call went to S3 and was answered
    with ListBuckets): the emulator answers MissingAuthenticationTokenException, but for the operations AWS takes
    unsigned (Cognito's sign-up and sign-in)."""
    table = local_cloud.physical_id("TokensTable")
    endpoint = local_cloud.endpoints["aws_endpoint"]
    item = {"token_hash": {"S": "unsigned"}, "user_id": {"S": "u"}}
    for target, body in (("DynamoDB_20120810.PutItem", {"TableName": table, "Item": item}),
                         ("DynamoDB_20120810.ListTables", {}), ("AWSStepFunctions.ListStateMachines", {})):
        status, headers, answer = call(endpoint + "/", method="POST", data=json.dumps(body).encode(), headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
        assert status == 400 and headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException", (target, answer)
        assert json.loads(answer)["__type"].endswith("#MissingAuthenticationTokenException")
    assert "Item" not in aws("dynamodb").get_item(TableName=table, Key={"token_hash": {"S": "unsigned"}})
    # an operation AWS serves unsigned reaches the service (here: no such client)
    status, headers, answer = call(endpoint + "/", method="POST", data=json.dumps({
        "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "no-such-client", "AuthParameters": {}}).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"})
    assert headers.get("x-amzn-ErrorType") != "MissingAuthenticationTokenException", (status, answer)


def test_an_unsigned_query_protocol_request_is_refused_as_aws_refuses_it(local_cloud, aws):
    """The query protocol's Action, in a form body or the query string, without a signature: 403
    MissingAuthenticationToken (AWS's common error), nothing done; STS's web identity federation, which AWS takes
    unsigned, and a presigned request (its signature in the query string) reach moto."""
    endpoint = local_cloud.endpoints["aws_endpoint"]
    name = "unsigned-query-topic"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for url, data in ((endpoint + "/", f"Action=CreateTopic&Name={name}&Version=2010-03-31".encode()),
                      (endpoint + f"/?Action=CreateTopic&Name={name}&Version=2010-03-31", None),
                      (endpoint + "/?Version=2010-05-08", b"Action=ListUsers")):
        status, _, answer = call(url, method="POST", data=data or b"", headers=form)
        assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in answer, (url, status, answer)
    assert not [t for t in aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{name}")]
    status, _, answer = call(endpoint + "/", method="POST", headers=form, data=(
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r"
        b"&RoleSessionName=s&WebIdentityToken=not-a-token"))
    assert b"MissingAuthenticationToken" not in answer, (status, answer)
    status, _, answer = call(endpoint + "/?Action=ListTopics&Version=2010-03-31&X-Amz-Signature=0&"
                                        "X-Amz-Credential=test%2F20261207%2Fus-east-1%2Fsns%2Faws4_request")
    assert b"MissingAuthenticationToken" not in answer, (status, answer)


def test_the_websocket_port_refuses_foreign_pages_and_unsigned_connections_calls(cloud, new_user):
    user = new_user("origin")
    url = f"{cloud.endpoints['websocket_api']}?token={user.token}"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin=EVIL)
    assert refused.value.response.status_code == 403
    page = cloud.endpoints["client"].rstrip("/")
    with connect(url, origin=page) as ws:  # the web page's own origin
        ws.send(json.dumps({"action": "ping", "id": "p"}))
        assert json.loads(ws.recv(timeout=10))["data"] == {"pong": True}
        data_plane = cloud.endpoints["websocket_api"].replace("ws://", "http://", 1)
        for headers in ({}, {"Origin": EVIL}):
            status, _, _ = call(f"{data_plane}/@connections/anything", method="DELETE", headers=headers)
            assert status == 403


def test_the_rest_api_serves_only_the_pages_own_origin(cloud, new_user):
    user = new_user("rest-origin")
    me = cloud.endpoints["http_api"] + "/users/self"
    auth = {"Authorization": f"Bearer {user.token}"}
    assert call(me, headers={**auth, "Origin": EVIL})[0] == 403
    assert call(me, headers={**auth, "Origin": cloud.endpoints["client"].rstrip("/")})[0] == 200
    assert call(me, headers=auth)[0] == 200

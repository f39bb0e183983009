"""Parity: a hand-written CloudFormation WebSocket chat (fixtures/apps/ws_chat_cfn) deploys unmodified and chats.

It has an AWS::ApiGatewayV2::Deployment, plain `Code: ./src` functions, Conditions, a LogGroup; its handlers
build @connections clients from `ApiEndpoint` (wss:// -> https://) and from
https://{apiId}.execute-api.{region}.amazonaws.com/{stage}; `$connect` greets through an async invoke whose
first attempt may fail (the connection opens only after `$connect` returns) and is retried as Lambda does.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
import websockets.sync.client

from infra import async_invoke
from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "ws_chat_cfn" / "template.yaml"


@pytest.fixture(scope="module")
def cloud():
    delays = async_invoke.RETRY_DELAYS
    async_invoke.RETRY_DELAYS = (0.2, 0.4)
    try:
        with LocalCloud(TEMPLATE, static_dir=None) as running:
            yield running
    finally:
        async_invoke.RETRY_DELAYS = delays


def test_the_deployment_and_stage_deploy(cloud):
    deployment = cloud.stack.resources["Deployment"]
    assert len(deployment.physical_id) == 6
    assert cloud.stack.resources["Stage"].properties["DeploymentId"] == deployment.physical_id
    assert cloud.stack.resources["Stage"].properties["Description"] == "Production Stage"   # Fn::If
    assert cloud.endpoints["websocket_api"].endswith("/production")
    assert "http_api" not in cloud.endpoints


def test_api_endpoint_is_wss_as_on_aws(cloud):
    api_id = cloud.physical_id("ChatApi")
    assert cloud.stack.resources["ChatApi"].attributes["ApiEndpoint"] == \
        f"wss://{api_id}.execute-api.us-east-1.amazonaws.com"
    assert cloud.stack.outputs["WebSocketURI"] == f"wss://{api_id}.execute-api.us-east-1.amazonaws.com/production"
    assert cloud.client("apigatewayv2").get_api(ApiId=api_id)["ApiEndpoint"] == \
        f"wss://{api_id}.execute-api.us-east-1.amazonaws.com"


def test_chat_greets_and_broadcasts_through_api_endpoint_urls(cloud):
    url = cloud.endpoints["websocket_api"]
    with websockets.sync.client.connect(url) as alice, websockets.sync.client.connect(url) as bob:
        for client in (alice, bob):
            greeting = json.loads(client.recv(timeout=10))          # via https://{apiId}.execute-api... URL
            assert greeting["greeting"] == "welcome to the chat"
        alice.send(json.dumps({"action": "sendmessage", "data": "hello bob"}))
        assert bob.recv(timeout=10) == "hello bob"                    # via ApiEndpoint with wss -> https
        assert alice.recv(timeout=10) == "hello bob"
    table = cloud.client("dynamodb").describe_table(TableName="simplechat_connections")["Table"]
    assert table["SSEDescription"]["Status"] == "ENABLED"


def test_connections_answer_at_the_apis_aws_host_in_process(cloud):
    api_id = cloud.physical_id("ChatApi")
    management = boto3.client("apigatewaymanagementapi", region_name="us-east-1", aws_access_key_id="t",
                              aws_secret_access_key="t",
                              endpoint_url=f"https://{api_id}.execute-api.us-east-1.amazonaws.com/production")
    with websockets.sync.client.connect(cloud.endpoints["websocket_api"]) as client:
        client.recv(timeout=10)                                       # the greeting
        # earlier tests' sockets leave the table when their $disconnect has run: wait until only ours is left
        deadline = time.monotonic() + 10
        while True:
            items = cloud.client("dynamodb").scan(TableName="simplechat_connections")["Items"]
            if len(items) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        [item] = items
        connection_id = item["connectionId"]["S"]
        assert management.get_connection(ConnectionId=connection_id)["Identity"]["SourceIp"] == "127.0.0.1"
        management.post_to_connection(ConnectionId=connection_id, Data=b"from outside the handlers")
        assert client.recv(timeout=10) == "from outside the handlers"
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId="bm9uZQ==", Data=b"x")


def test_the_log_group_exists_with_its_retention(cloud):
    groups = cloud.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/notifyx-SendMessage")
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups["logGroups"]] == [
        ("/aws/lambda/notifyx-SendMessageFunction", 7)]

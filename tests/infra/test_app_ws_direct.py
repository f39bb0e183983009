"""A WebSocket API whose routes call AWS services with mapping templates (fixtures/apps/ws_direct): $connect and
$disconnect write and delete the connection in DynamoDB, a route queues a message in SQS (a form with the
connection id as an attribute) and answers with the message id through its integration response, another prices
through an Express workflow, and a MOCK $default answers what no route takes. Before 7 December an integration of
type AWS on a WebSocket API, its RequestTemplates and AWS::ApiGatewayV2::IntegrationResponse were refused at deploy
(8 templates of aws-samples/serverless-patterns use them)."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from infra.deploy import Deployer, UnsupportedTemplate
from infra.template import expand

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "ws_direct" / "template.yaml"


def connections(cloud) -> list[dict]:
    return cloud.client("dynamodb").scan(TableName=cloud.physical_id("Connections"))["Items"]


def test_routes_write_queue_price_and_mock_with_their_templates_and_the_connection_is_forgotten(cloud):
    async def session() -> tuple[list[dict], dict, dict, dict]:
        async with connect(cloud.endpoints["websocket_api"]) as ws:
            recorded = connections(cloud)
            await ws.send(json.dumps({"action": "enqueue", "request": {"sku": "A-1", "n": 2}}))
            queued = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps({"action": "price", "quote": {"item": "hat"}}))
            priced = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps({"action": "dance"}))
            mocked = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return recorded, queued, priced, mocked

    recorded, queued, priced, mocked = asyncio.run(session())
    [item] = recorded
    connection = item["id"]["S"]
    assert item["route"] == {"S": "$connect"}
    assert priced == {"item": "hat", "price": 12}
    assert mocked == {"message": "no such action", "connection": connection}
    [message] = cloud.client("sqs").receive_message(QueueUrl=cloud.physical_id("Requests"),
                                                    MessageAttributeNames=["All"])["Messages"]
    assert message["MessageId"] == queued["queued"]
    assert json.loads(message["Body"]) == {"sku": "A-1", "n": 2}
    assert message["MessageAttributes"]["connectionId"]["StringValue"] == connection
    deadline = time.monotonic() + 5
    while connections(cloud) and time.monotonic() < deadline:  # $disconnect's DeleteItem, after the close
        time.sleep(0.05)
    assert connections(cloud) == []


def test_a_model_is_stored_as_declared(cloud):
    model = cloud.client("apigatewayv2").get_model(ApiId=cloud.physical_id("Socket"),
                                                   ModelId=cloud.physical_id("QuoteModel"))
    assert (model["Name"], json.loads(model["Schema"])["required"]) == ("Quote", ["action"])


@pytest.mark.parametrize("change, refusal", [
    # a Kinesis path override: not called locally
    (":sqs:path/", "only SQS, SNS and S3 path overrides are called locally"),
    # an integration response's parameters
    ("      IntegrationResponseKey: $default\n      TemplateSelectionExpression",
     "a WebSocket integration response's parameters are not mapped locally"),
])
def test_what_the_local_cloud_cannot_run_is_refused_plainly(tmp_path, change, refusal):
    text = TEMPLATE.read_text()
    if change == ":sqs:path/":
        text = text.replace(":sqs:path/", ":kinesis:path/", 1)
    else:
        text = text.replace(change, "      IntegrationResponseKey: $default\n      ResponseParameters: {a: b}\n"
                                    "      TemplateSelectionExpression", 1)
    template = tmp_path / "template.yaml"
    template.write_text(text)
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert refusal in str(refused.value)


def test_hostile_frames_on_integration_routes_are_answered_and_the_socket_goes_on(cloud):
    frames = ['{"action": "enqueue", "request": "\\ud800"}',             # a lone surrogate into SQS's form
              '{"action": "enqueue", "request": ' + "[" * 50000 + "}",  # nesting no parser takes: $default
              '{"action": "price", "quote": {"item": "\\ud800"}}',      # into Step Functions' JSON
              b"\xff\xfe"]                                               # binary: $default

    async def session() -> list:
        answers = []
        async with connect(cloud.endpoints["websocket_api"]) as ws:
            for frame in frames:
                await ws.send(frame)
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            await ws.send(json.dumps({"action": "price", "quote": {"item": "ok"}}))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return answers

    answers = asyncio.run(session())
    assert answers[0]["message"] == "Internal server error" and "requestId" in answers[0]
    assert answers[1]["message"] == answers[3]["message"] == "no such action"
    assert answers[2] == {"error": "no price"}
    assert answers[4] == {"item": "ok", "price": 12}

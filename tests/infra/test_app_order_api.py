"""Parity: a state machine behind a REST API (fixtures/apps/order_api: SAM's Api event on a state machine, an AWS
integration calling Step Functions' StartExecution with SAM's mapping template). A POST starts an execution whose
input is the request's body; the answer is StartExecution's (executionArn, startDate). The template's
$util.escapeJavaScript escapes an apostrophe as \\', which is not valid JSON: Step Functions refuses the request
(400, SerializationException), as on AWS, unless the event sets UnescapeMappingTemplate. Before, the deployer refused
the integration (only Lambda proxy integrations ran), so no such template ran.
"""
from __future__ import annotations

import json
from pathlib import Path

from http_calls import call
from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "order_api" / "template.yaml"


def post(cloud, path: str, document: dict) -> tuple[int, dict]:
    return call(cloud.endpoints["http_api"] + path, method="POST", body=json.dumps(document).encode(),
                headers={"Content-Type": "application/json"})[:2]


def finished(cloud, arn: str) -> dict:
    sfn = cloud.client("stepfunctions")
    return wait_for(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, 30)


def test_a_post_starts_an_execution_with_the_body_as_its_input(cloud):
    order = {"item": "tea \u00e9 \U0001F375", "path": "a/b", "quote": "\"x\""}
    status, answer = post(cloud, "/orders", order)
    assert status == 200, answer
    assert answer["executionArn"].startswith(cloud.stack.outputs["OrdersArn"].replace(":stateMachine:",
                                                                                     ":execution:"))
    assert isinstance(answer["startDate"], (int, float))
    execution = finished(cloud, answer["executionArn"])
    assert json.loads(execution["input"]) == order
    assert json.loads(execution["output"]) == {"accepted": order["item"]}


def test_an_apostrophe_needs_the_unescaped_template(cloud):
    order = {"item": "o'clock tea"}
    status, answer = post(cloud, "/orders", order)
    assert status == 400 and answer["__type"].endswith("SerializationException"), answer
    status, answer = post(cloud, "/orders/unescaped", order)
    assert status == 200, answer
    assert json.loads(finished(cloud, answer["executionArn"])["input"]) == order

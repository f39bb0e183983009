"""Parity: Node.js functions (fixtures/apps/node_hello), which the deployer refused ("only Python handlers run
locally"). A `nodejs*` function runs in a `node` process of its own that takes its invocations over Lambda's Runtime
API (infra/node_sandbox.py, infra/node_bootstrap.js), as AWS's Node.js runtime does: async and callback handlers,
CommonJS and ES modules, the context (request id, remaining time), the function's environment, errors as Lambda
reports them (errorType, errorMessage, stackTrace), the timeout, console lines in Lambda's format, cold starts
(Init Duration) and warm reuse; API events and SQS batches reach them as they reach Python functions.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from http_calls import call
from racing import wait_for

from infra.node_sandbox import node_binary

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "node_hello" / "template.yaml"

pytestmark = pytest.mark.skipif(node_binary() is None, reason="no node on this machine")


def test_the_hello_world_answers_both_apis_warm_after_cold(cloud):
    gateway = cloud.rest_gateway
    [http] = gateway.http_apis
    first = call(f"http://127.0.0.1:{gateway.port}{http.base_path}/hello")
    status, body, _ = call(f"http://127.0.0.1:{gateway.port}/Prod/hello")
    assert (first[0], status) == (200, 200)
    assert (first[1]["path"], body["path"]) == ("/hello", "/hello")
    assert body["greeting"] == "bonjour" and body["node"].startswith("v")
    assert 0 < body["remainingMs"] <= 3000 and body["requestId"] != first[1]["requestId"]
    answer = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("HelloWorld"), Payload=b"{}",
                                           LogType="Tail")
    log = base64.b64decode(answer["LogResult"]).decode()
    request_id = json.loads(json.loads(answer["Payload"].read())["body"])["requestId"]
    assert f"\t{request_id}\tINFO\thello from {cloud.physical_id('HelloWorld')}" in log  # Lambda's console format
    assert "Init Duration" not in log  # warm: the sandbox of an earlier call
    assert cloud.runtime.stats()[cloud.physical_id("HelloWorld")]["invocations"] == 3


def test_the_deploy_says_which_node_runs_the_functions(cloud):
    from infra.node_sandbox import node_version

    here = node_version()
    warned = [w for w in cloud.stack.warnings if "Node.js" in w]
    # the template asks for nodejs24.x; this machine's node major version answers for it, and the deploy says so
    assert warned == ([] if here == "24" else [
        f"Consumer, Doubler, Failing, HelloWorld, Module, Slow: Runtime nodejs24.x, but handlers run on this "
        f"machine's Node.js ({here}) in the local cloud"])


def test_callback_and_module_handlers(cloud):
    assert cloud.invoke("Doubler", {"n": 21}) == {"doubled": 42}
    assert cloud.invoke("Module", {"x": [1, "two"]}) == {"module": "esm", "echo": {"x": [1, "two"]}}


def test_errors_and_timeouts_are_lambda_s(cloud):
    lam = cloud.client("lambda")
    answer = lam.invoke(FunctionName=cloud.physical_id("Failing"), Payload=b"{}")
    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("TypeError", "no such order")
    assert error["stackTrace"][0] == "TypeError: no such order"
    started = time.monotonic()
    answer = lam.invoke(FunctionName=cloud.physical_id("Slow"), Payload=b"{}")
    assert json.loads(answer["Payload"].read())["errorMessage"] == "Task timed out after 1.00 seconds"
    assert 0.9 < time.monotonic() - started < 10


def test_a_queue_s_batches_reach_the_node_consumer(cloud):
    sqs, url = cloud.client("sqs"), cloud.stack.outputs["JobsUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"job-{i}")
    name = cloud.physical_id("Consumer")
    wait_for(lambda: cloud.runtime.stats()[name]["invocations"] >= 1, 20)
    wait_for(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"] == "0" and sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0", 20)

"""Parity: async invocation destinations (fixtures/apps/async_jobs) as Lambda documents them.

MaximumRetryAttempts 0: a failed event is not retried; the on-failure destination (an SNS topic) gets the
invocation record; the on-success destination (a function) gets the record of each success with the response.
The function's environment holds a {{resolve:secretsmanager:...}} dynamic reference, resolved at deploy.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "async_jobs" / "template.yaml"


def items(cloud, prefix):
    rows = cloud.client("dynamodb").scan(TableName=cloud.physical_id("JobsTable"))["Items"]
    return [{k: v["S"] for k, v in row.items()} for row in rows if row["id"]["S"].startswith(prefix)]


def start(cloud, job, ok):
    response = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("Worker"), InvocationType="Event",
                                             Payload=json.dumps({"job": job, "ok": ok}).encode())
    assert response["StatusCode"] == 202


def test_a_success_goes_to_the_lambda_destination_with_the_response(cloud):
    start(cloud, "j-1", True)
    [row] = wait_for(lambda: items(cloud, "record:j-1"))
    record = json.loads(row["record"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["functionArn"].endswith(":function:notifyx-Worker:$LATEST")
    assert record["requestPayload"] == {"job": "j-1", "ok": True}
    assert record["responsePayload"] == {"job": "j-1", "token": "s3cr3t"}     # the dynamic reference
    assert "functionError" not in record["responseContext"]


def test_a_failure_is_not_retried_and_goes_to_the_sns_destination(cloud):
    start(cloud, "j-2", False)
    sqs = cloud.client("sqs")
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=cloud.physical_id("FailureQueue"),
                                                      WaitTimeSeconds=1).get("Messages"))
    record = json.loads(json.loads(messages[0]["Body"])["Message"])    # SNS envelope around the record
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"]["errorMessage"] == "job j-2 failed"
    time.sleep(1.5)                                                   # a retry would have come after 1 s
    assert len([r for r in items(cloud, "attempt:") if r["job"] == "j-2"]) == 1
    assert items(cloud, "record:j-2") == []


def test_the_event_invoke_config_is_answered_by_the_api(cloud):
    config = cloud.client("lambda").get_function_event_invoke_config(FunctionName=cloud.physical_id("Worker"))
    assert config["MaximumRetryAttempts"] == 0 and config["MaximumEventAgeInSeconds"] == 60
    assert config["DestinationConfig"]["OnSuccess"]["Destination"] == \
        cloud.stack.resources["Recorder"].attributes["Arn"]


def test_an_event_invoke_over_http_is_queued_as_well(cloud):
    """What `aws lambda invoke --invocation-type Event` from another process sends reaches moto: same behaviour."""
    import urllib.request

    request = urllib.request.Request(
        f"{cloud.aws_endpoint}/2015-03-31/functions/{cloud.physical_id('Worker')}/invocations",
        data=json.dumps({"job": "j-3", "ok": True}).encode(), method="POST",
        headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=t/20261201/us-east-1/lambda/aws4_request, "
                                  "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202 and response.read() == b""
    [row] = wait_for(lambda: items(cloud, "record:j-3"))
    assert json.loads(row["record"])["requestContext"]["condition"] == "Success"


def test_a_put_replaces_the_config_and_an_update_changes_only_what_it_names(cloud):
    """PutFunctionEventInvokeConfig overwrites the function's config ("If you exclude any settings, they are
    removed"); UpdateFunctionEventInvokeConfig changes only the settings it names. moto appended each put and kept
    reading the first: a config put at run time was never in force."""
    lam, worker = cloud.client("lambda"), cloud.physical_id("Worker")
    original = lam.get_function_event_invoke_config(FunctionName=worker)
    try:
        lam.put_function_event_invoke_config(FunctionName=worker, MaximumRetryAttempts=1)
        config = lam.get_function_event_invoke_config(FunctionName=worker)
        assert config["MaximumRetryAttempts"] == 1 and "MaximumEventAgeInSeconds" not in config
        assert not config.get("DestinationConfig", {}).get("OnSuccess", {}).get("Destination")
        lam.update_function_event_invoke_config(FunctionName=worker, MaximumEventAgeInSeconds=100)
        config = lam.get_function_event_invoke_config(FunctionName=worker)
        assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (1, 100)
        start(cloud, "j-4", False)  # one retry now: two attempts
        wait_for(lambda: len([r for r in items(cloud, "attempt:") if r["job"] == "j-4"]) == 2)
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.update_function_event_invoke_config(FunctionName=cloud.physical_id("Recorder"),
                                                    MaximumRetryAttempts=0)
    finally:
        lam.put_function_event_invoke_config(FunctionName=worker, **{
            key: original[key] for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")})
    assert lam.get_function_event_invoke_config(FunctionName=worker)["MaximumRetryAttempts"] == 0

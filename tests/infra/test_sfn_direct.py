"""The emulator's direct path for Step Functions StartExecution / DescribeExecution (infra/emulator.py
DirectStepFunctions) answers what the HTTP path answers: the same fields, timestamps parsed alike, and the same
errors with their codes (ExecutionAlreadyExists is what idempotent starts rely on)."""
from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from infra import emulator as emulator_module
from infra.emulator import Emulator

DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True},
                                                                 "End": True}}})


@pytest.fixture(scope="module")
def endpoint():
    emulator = Emulator(port=0).start()
    emulator_module.serve_in_process(emulator.endpoint)
    try:
        yield emulator.endpoint
    finally:
        emulator_module.stop_serving_in_process()
        emulator.stop()


def client(endpoint: str):
    return boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def machine(endpoint):
    sfn = client(endpoint)
    arn = sfn.create_state_machine(name="direct", definition=DEFINITION,
                                   roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
    yield arn
    sfn.delete_state_machine(stateMachineArn=arn)


def over_http(endpoint, call):
    hosts = set(emulator_module.in_process_requests.hosts)
    emulator_module.stop_serving_in_process()
    try:
        return call(client(endpoint))
    finally:
        emulator_module.in_process_requests.hosts.update(hosts)


def without_metadata(answer):
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def finished(sfn, arn):
    for _ in range(200):
        answer = sfn.describe_execution(executionArn=arn)
        if answer["status"] != "RUNNING":
            return answer
        time.sleep(0.01)
    raise AssertionError("the execution did not finish")


def test_start_and_describe_answer_what_the_http_path_answers(endpoint, machine):
    sfn = client(endpoint)
    started = sfn.start_execution(stateMachineArn=machine, name="run-1", input='{"a": 1}')
    assert set(without_metadata(started)) == {"executionArn", "startDate"}
    direct = finished(sfn, started["executionArn"])
    http = over_http(endpoint, lambda c: c.describe_execution(executionArn=started["executionArn"]))
    assert without_metadata(direct) == without_metadata(http)
    assert direct["status"] == "SUCCEEDED" and json.loads(direct["output"]) == {"ok": True}
    assert direct["startDate"].tzinfo is not None and direct["startDate"] == started["startDate"]
    assert direct["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_errors_carry_the_same_codes_and_messages(endpoint, machine):
    sfn = client(endpoint)
    arn = sfn.start_execution(stateMachineArn=machine, name="run-2", input="{}")["executionArn"]
    finished(sfn, arn)

    def error(call, via):
        with pytest.raises(ClientError) as caught:
            via(call)
        return caught.value.response["Error"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]

    def directly(call):
        return call(sfn)

    def through_http(call):
        return over_http(endpoint, call)

    missing = arn.replace("run-2", "never-ran")
    calls = (lambda c: c.start_execution(stateMachineArn=machine, name="run-2", input='{"other": 1}'),
             lambda c: c.describe_execution(executionArn=missing),
             lambda c: c.describe_execution(executionArn="not-an-arn"))
    for call in calls:
        assert error(call, directly) == error(call, through_http)
    codes = [error(call, directly)[0]["Code"] for call in calls[:2]]
    assert codes == ["ExecutionAlreadyExists", "ExecutionDoesNotExist"]


def test_the_direct_path_skips_moto_routing_and_serializer(endpoint, machine, monkeypatch):
    from moto.core.responses import BaseResponse

    sfn = client(endpoint)
    arn = sfn.start_execution(stateMachineArn=machine, name="run-3", input="{}")["executionArn"]
    finished(sfn, arn)

    def routed(*_, **__):
        raise AssertionError("went through moto's HTTP dispatch")

    monkeypatch.setattr(BaseResponse, "setup_class", routed)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert sfn.start_execution(stateMachineArn=machine, name="run-4", input="{}")["executionArn"].endswith("run-4")

"""The emulator's direct path for Step Functions StartExecution / DescribeExecution (infra/emulator.py
DirectStepFunctions) answers what the HTTP path answers: the same fields, timestamps parsed alike, and the same
errors with their codes (ExecutionAlreadyExists is what idempotent starts rely on)."""
from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from in_process import over_http as http_only

from infra import account

DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True},
                                                                 "End": True}}})


def client(endpoint: str):
    return account.client("stepfunctions", endpoint)


@pytest.fixture(scope="module")
def machine(emulator_endpoint):
    sfn = client(emulator_endpoint)
    arn = sfn.create_state_machine(name="direct", definition=DEFINITION,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    yield arn
    sfn.delete_state_machine(stateMachineArn=arn)


def over_http(emulator_endpoint, call):
    with http_only():
        return call(client(emulator_endpoint))


def without_metadata(answer):
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def finished(sfn, arn):
    for _ in range(200):
        answer = sfn.describe_execution(executionArn=arn)
        if answer["status"] != "RUNNING":
            return answer
        time.sleep(0.01)
    raise AssertionError("the execution did not finish")


def test_start_and_describe_answer_what_the_http_path_answers(emulator_endpoint, machine):
    sfn = client(emulator_endpoint)
    started = sfn.start_execution(stateMachineArn=machine, name="run-1", input='{"a": 1}')
    assert set(without_metadata(started)) == {"executionArn", "startDate"}
    direct = finished(sfn, started["executionArn"])
    http = over_http(emulator_endpoint, lambda c: c.describe_execution(executionArn=started["executionArn"]))
    assert without_metadata(direct) == without_metadata(http)
    assert direct["status"] == "SUCCEEDED" and json.loads(direct["output"]) == {"ok": True}
    assert direct["startDate"].tzinfo is not None and direct["startDate"] == started["startDate"]
    assert direct["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_errors_carry_the_same_codes_and_messages(emulator_endpoint, machine):
    sfn = client(emulator_endpoint)
    arn = sfn.start_execution(stateMachineArn=machine, name="run-2", input="{}")["executionArn"]
    finished(sfn, arn)

    def error(call, via):
        with pytest.raises(ClientError) as caught:
            via(call)
        return caught.value.response["Error"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]

    def directly(call):
        return call(sfn)

    def through_http(call):
        return over_http(emulator_endpoint, call)

    missing = arn.replace("run-2", "never-ran")
    calls = (lambda c: c.start_execution(stateMachineArn=machine, name="run-2", input='{"other": 1}'),
             lambda c: c.describe_execution(executionArn=missing),
             lambda c: c.describe_execution(executionArn="not-an-arn"))
    for call in calls:
        assert error(call, directly) == error(call, through_http)
    codes = [error(call, directly)[0]["Code"] for call in calls[:2]]
    assert codes == ["ExecutionAlreadyExists", "ExecutionDoesNotExist"]


def test_the_direct_path_skips_moto_routing_and_serializer(emulator_endpoint, machine, monkeypatch):
    from moto.core.responses import BaseResponse

    sfn = client(emulator_endpoint)
    arn = sfn.start_execution(stateMachineArn=machine, name="run-3", input="{}")["executionArn"]
    finished(sfn, arn)

    def routed(*_, **__):
        raise AssertionError("went through moto's HTTP dispatch")

    monkeypatch.setattr(BaseResponse, "setup_class", routed)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert sfn.start_execution(stateMachineArn=machine, name="run-4", input="{}")["executionArn"].endswith("run-4")

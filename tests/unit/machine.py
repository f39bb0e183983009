"""The publish state machine's DynamoDB steps (Begin, RecordCommit, CompleteCommit, CompleteAbort), run one at a
time by moto's Step Functions interpreter (``mock_aws`` with ``execute_state_machine``) from their own definition in
step_functions/publish.asl.json, so the unit tests of the coordinator's log exercise what the state machine sends.
The whole machine runs on the local cloud in tests/e2e.

Each step runs as a state machine of its own: the state as written, its Catch leading to a state that answers
"caught", its Next to one that answers "next". Its Retry is left out (a failed condition it does not catch would be
retried for minutes: the answer is the failure instead), and its TimeoutSecondsPath (the machine's Limits state
sets what it reads).
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import boto3

from tables import physical_name, template

DEFINITION = Path(__file__).resolve().parents[2] / "step_functions" / "publish.asl.json"
ROLE = "arn:aws:iam::123456789012:role/publish"
#: what mock_aws needs to run executions instead of only recording them
EXECUTING = {"stepfunctions": {"execute_state_machine": True}}


def _definition(lease: int) -> dict:
    """The definition, its ``${...}`` placeholders for the coordinator's table filled as the template's are."""
    text = DEFINITION.read_text()
    for key, value in {"TransactionsTable": physical_name("TransactionsTable"), "TransactionLeaseSeconds": str(lease),
                       "TransactionRetentionSeconds": str(
                           template()["Parameters"]["TransactionRetentionSeconds"]["Default"])}.items():
        text = text.replace("${" + key + "}", value)
    return json.loads(text)


def run(name: str, handed: dict, lease: int) -> str:
    """Run one DynamoDB step, handed ``handed`` (the state the flow built by then; for Begin, the transaction the
    execution was started with, which it reads as ``$$.Execution.Input``): "next" when it wrote, "caught" when its
    condition failed and it catches that (Begin -> Prepare, RecordCommit -> ReadDecision), else
    "failed: <error>" (a failure it does not catch)."""
    state = _definition(lease)["States"][name]
    assert state["Resource"].startswith("arn:aws:states:::dynamodb:"), state["Resource"]
    step = {k: v for k, v in state.items() if k not in ("Next", "Retry", "TimeoutSecondsPath")}
    step["Catch"] = [{**catcher, "Next": "Caught"} for catcher in state.get("Catch", [])]
    step["Next"] = "Wrote"
    definition = {"StartAt": name, "States": {
        name: step, "Wrote": {"Type": "Pass", "Result": {"step": "next"}, "End": True},
        "Caught": {"Type": "Pass", "Result": {"step": "caught"}, "End": True}}}
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name=f"{name}-{uuid.uuid4().hex[:8]}", roleArn=ROLE,
                                       definition=json.dumps(definition))["stateMachineArn"]
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex,
                                  input=json.dumps(handed))["executionArn"]
        deadline = time.monotonic() + 10
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, described
            time.sleep(0.005)
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)
    if described["status"] == "SUCCEEDED":
        return json.loads(described["output"])["step"]
    return f"failed: {described.get('error')}"

"""StartSyncExecution on the local cloud (infra/moto_patches.start_sync_execution; moto routes none): an Express
state machine runs on the caller's request and answers its output, as AWS documents; a Standard one refuses it.
A function calls it from its sandbox (botocore sends it to ``sync-<endpoint>``), and so can other processes with
the host prefix turned off (fixtures/apps/express_checkout)."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from in_process import over_http

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "express_checkout" / "template.yaml"


def code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_a_function_answers_with_a_synchronous_express_execution(cloud):
    answer = cloud.invoke("Checkout", {"sku": "tea", "quantity": 3})
    assert answer["status"] == "SUCCEEDED"
    assert answer["order"] == {"sku": "tea", "total": 750}
    assert ":express:" in answer["executionArn"]


def test_a_failing_task_fails_the_execution_and_the_caller_sees_why(cloud):
    answer = cloud.invoke("Checkout", {"sku": "tea", "quantity": 0})
    assert answer["status"] == "FAILED"
    assert answer["error"] == "ValueError"  # the Lambda task's error, uncaught by the workflow


def test_the_answer_has_the_fields_aws_documents(cloud):
    sfn = cloud.client("stepfunctions")  # host prefix on: answered in this process at sync-127.0.0.1:<port>
    machine = cloud.physical_id("Pricing")
    answer = sfn.start_sync_execution(stateMachineArn=machine, name="order-1", input='{"sku": "a", "quantity": 2}')
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"sku": "a", "total": 500}
    assert answer["stateMachineArn"] == machine and answer["name"] == "order-1"
    region_account, _, rest = answer["executionArn"].partition(":express:")
    assert region_account == machine.partition(":stateMachine:")[0]
    assert rest.startswith(machine.rpartition(":")[2] + ":order-1:")
    assert json.loads(answer["input"]) == {"sku": "a", "quantity": 2}
    assert answer["inputDetails"] == {"included": True} and answer["outputDetails"] == {"included": True}
    assert answer["startDate"] <= answer["stopDate"] and answer["startDate"].tzinfo is not None
    billed = answer["billingDetails"]
    assert billed["billedMemoryUsedInMB"] == 64 and billed["billedDurationInMilliseconds"] % 100 == 0
    assert billed["billedDurationInMilliseconds"] >= 100


def test_other_processes_reach_it_over_http_with_the_host_prefix_off(cloud):
    machine = cloud.physical_id("Pricing")
    with over_http():
        sfn = cloud.client("stepfunctions", config=Config(inject_host_prefix=False))
        answer = sfn.start_sync_execution(stateMachineArn=machine, input='{"sku": "b", "quantity": 1}')
        assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"])["total"] == 250
        failed = sfn.start_sync_execution(stateMachineArn=machine, input='{"sku": "b", "quantity": -1}')
        assert failed["status"] == "FAILED" and failed["error"] == "ValueError" and "output" not in failed
        assert code(lambda: sfn.start_sync_execution(stateMachineArn=cloud.physical_id("Audit"))) == \
            "StateMachineTypeNotSupported"


def test_what_aws_refuses_is_refused(cloud):
    sfn = cloud.client("stepfunctions")
    machine = cloud.physical_id("Pricing")
    assert code(lambda: sfn.start_sync_execution(stateMachineArn=cloud.physical_id("Audit"))) == \
        "StateMachineTypeNotSupported"
    assert code(lambda: sfn.start_sync_execution(stateMachineArn=machine + "-gone")) == "StateMachineDoesNotExist"
    assert code(lambda: sfn.start_sync_execution(stateMachineArn=machine, input="{not json")) == \
        "InvalidExecutionInput"
    assert code(lambda: sfn.start_sync_execution(stateMachineArn=machine, name="n" * 81)) == "InvalidName"


def test_express_executions_are_not_kept_and_are_counted(cloud, monkeypatch):
    from infra import moto_patches

    compacted = []  # the history compaction is for kept executions only: an Express one is dropped after it answers
    monkeypatch.setattr(moto_patches, "_FinishedHistory", lambda events: compacted.append(events))
    sfn = cloud.client("stepfunctions")
    machine = cloud.physical_id("Pricing")
    since = datetime.now(UTC) - timedelta(minutes=1)
    arn = sfn.start_sync_execution(stateMachineArn=machine, input='{"sku": "c", "quantity": 1}')["executionArn"]
    assert compacted == []
    assert arn not in {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    with pytest.raises(ClientError):
        sfn.describe_execution(executionArn=arn)
    cloudwatch = cloud.client("cloudwatch")

    def total(metric: str) -> float:
        answer = cloudwatch.get_metric_statistics(
            Namespace="AWS/States", MetricName=metric, StartTime=since, EndTime=datetime.now(UTC) + timedelta(
                minutes=1), Period=60, Statistics=["Sum"], Dimensions=[{"Name": "StateMachineArn", "Value": machine}])
        return sum(point["Sum"] for point in answer["Datapoints"])

    deadline = time.monotonic() + 10
    while total("ExecutionsSucceeded") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total("ExecutionsStarted") >= 1 and total("ExecutionsSucceeded") >= 1


def test_the_moto_internals_it_builds_on():
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.backend.execution import SyncExecution
    from moto.stepfunctions.parser.backend.execution_worker import SyncExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    from infra import moto_patches

    patches = [moto_patches.patch("sfn-start-sync-execution"), moto_patches.patch("sfn-start-sync-execution-backend")]
    applied = [p for p in patches if p.applied]
    for p in applied:
        p.revert()
    try:
        # moto still routes none: if it grows its own, these patches would hide it
        assert not hasattr(StepFunctionResponse, "start_sync_execution")
        assert not hasattr(StepFunctionsParserBackend, "start_sync_execution")
    finally:
        for p in applied:
            p.apply()
    # what the patch runs: moto's synchronous execution, run on the calling thread, and its output
    assert SyncExecution._get_start_execution_worker.__qualname__.startswith("SyncExecution.")
    assert "_execution_logic" in SyncExecutionWorker.start.__code__.co_names
    assert callable(SyncExecution.to_start_sync_execution_output)
    assert hasattr(StepFunctionBackend, "describe_state_machine")

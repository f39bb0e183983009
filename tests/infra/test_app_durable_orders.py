"""Lambda durable functions (fixtures/apps/durable_orders), which the deployer refused (DurableConfig): an Invoke
starts a durable execution run by AWS's own emulator of the execution service (aws-durable-execution-sdk-python-
testing), which invokes the handler through the local cloud's runtime as often as its operations need: steps run
once and are replayed from their checkpoints, a wait and a retry's backoff suspend the execution and invoke the
handler again when due, a callback waits for SendDurableExecutionCallbackSuccess; the execution API answers on the
emulator's endpoint, in this process and over HTTP."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import boto3
import pytest
from racing import wait_for

from infra import account

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "durable_orders" / "template.yaml"


def start(cloud, event: dict, **extra) -> dict:
    return cloud.client("lambda").invoke(FunctionName=cloud.physical_id("Orders"), Payload=json.dumps(event), **extra)


def test_a_synchronous_invoke_waits_for_the_whole_execution_and_answers_its_result(cloud):
    began = time.monotonic()
    answer = start(cloud, {"order": "o-1", "wait": 1, "charge_failures": 2})
    took = time.monotonic() - began
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    # the charge failed twice and its third attempt succeeded, each retry after its backoff (1 s); the reservation
    # ran once (the re-invoked handler replayed its checkpoint) and the wait (1 s) was waited
    assert result["order"] == "o-1" and result["charged"] == {"charged": "o-1", "attempt": 3}
    assert took >= 3, took
    arn = answer["DurableExecutionArn"]
    # Lambda's ARN, as the API reference's pattern has it, which the SDK parses
    from aws_durable_execution_sdk_python.types import DurableExecutionArn

    assert re.fullmatch(r"arn:([a-zA-Z0-9-]+):lambda:([a-zA-Z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+):"
                        r"(\$LATEST(?:\.PUBLISHED)?|[0-9]+)/durable-execution/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)", arn)
    assert DurableExecutionArn.from_arn(arn).function_name == cloud.physical_id("Orders")
    execution = cloud.client("lambda").get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "SUCCEEDED" and json.loads(execution["Result"]) == result
    assert json.loads(execution["InputPayload"])["order"] == "o-1"
    history = cloud.client("lambda").get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    kinds = [event["EventType"] for event in history]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionSucceeded", kinds
    # two steps succeeded, the charge's two declined attempts are recorded, and the wait ended
    assert kinds.count("StepSucceeded") == 2 and kinds.count("StepFailed") == 2 and "WaitSucceeded" in kinds, kinds


def test_a_failed_execution_is_a_function_error_naming_the_handler_s_exception(cloud):
    answer = start(cloud, {"order": "o-2", "wait": 0, "fail": True})
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "ValueError" and "o-2 cannot ship" in error["errorMessage"]
    execution = cloud.client("lambda").get_durable_execution(DurableExecutionArn=answer["DurableExecutionArn"])
    assert execution["Status"] == "FAILED" and execution["Error"]["ErrorType"] == "ValueError"


def test_an_asynchronous_invoke_answers_at_once_and_a_callback_completes_the_execution(cloud):
    lambda_ = cloud.client("lambda")
    answer = start(cloud, {"order": "o-3", "callback": True}, InvocationType="Event")
    assert answer["StatusCode"] == 202
    arn = answer["DurableExecutionArn"]

    def callback_id() -> str | None:
        events = lambda_.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        started = [e for e in events if e["EventType"] == "CallbackStarted"]
        return started[0]["CallbackStartedDetails"]["CallbackId"] if started else None

    callback = wait_for(callback_id, 30)
    assert lambda_.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"
    lambda_.send_durable_execution_callback_success(CallbackId=callback, Result=json.dumps({"by": "ops"}).encode())
    wait_for(lambda: lambda_.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED", 30)
    result = json.loads(lambda_.get_durable_execution(DurableExecutionArn=arn)["Result"])
    # the callback's result as the SDK hands it to the handler: the bytes sent, as text
    assert result["order"] == "o-3" and json.loads(result["approval"]) == {"by": "ops"}
    listed = lambda_.list_durable_executions_by_function(FunctionName=cloud.physical_id("Orders"))
    assert arn in {e["DurableExecutionArn"] for e in listed["DurableExecutions"]}


def test_a_stopped_execution_ends_stopped(cloud):
    lambda_ = cloud.client("lambda")
    arn = start(cloud, {"order": "o-4", "callback": True}, InvocationType="Event")["DurableExecutionArn"]
    wait_for(lambda: lambda_.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING", 30)
    lambda_.stop_durable_execution(DurableExecutionArn=arn)
    wait_for(lambda: lambda_.get_durable_execution(DurableExecutionArn=arn)["Status"] == "STOPPED", 30)


def test_the_execution_api_answers_over_http_and_refuses_unknown_executions(cloud):
    lambda_ = boto3.client("lambda", endpoint_url=cloud.aws_endpoint, **account.CREDENTIALS)
    answer = lambda_.invoke(FunctionName=cloud.physical_id("Orders"), Payload=json.dumps({"order": "o-5", "wait": 0}))
    assert json.loads(answer["Payload"].read())["order"] == "o-5"
    arn = answer["DurableExecutionArn"]
    assert lambda_.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.get_durable_execution(DurableExecutionArn="no-such/execution")
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        cloud.client("lambda").get_durable_execution(DurableExecutionArn="no-such/execution")


def test_hostile_requests_get_the_api_s_errors_and_hurt_no_execution(cloud):
    import http.client
    from urllib.parse import urlsplit

    arn = start(cloud, {"order": "o-6", "wait": 0})["DurableExecutionArn"]
    host = urlsplit(cloud.aws_endpoint)
    for method, path, body, headers in [
            ("POST", "/2025-12-01/durable-executions/x%2Fy/checkpoint", b"{not json", {}),
            ("POST", "/2025-12-01/durable-executions/x%2Fy/checkpoint", b'{"Updates": [[[[[[]]]]]]}', {}),
            ("GET", "/2025-12-01/durable-executions/%ED%A0%80", b"", {}),  # a lone surrogate, UTF-8 encoded
            ("POST", "/2025-12-01/durable-execution-callbacks/nope/succeed", b"x", {}),
            ("POST", "/2025-12-01/durable-executions/x/pause", b"{}", {}),
            ("POST", "/2025-12-01/durable-executions/x/checkpoint", b"", {"Content-Length": str(11 * 2**20)})]:
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        connection.putrequest(method, path)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        answer = connection.getresponse()
        text = answer.read().decode()
        connection.close()
        assert 400 <= answer.status < 500, (path, answer.status, text)
        assert "Traceback" not in text and "/work/" not in text and "site-packages" not in text, text
    # the service still answers, and the execution it ran is as it was
    assert cloud.client("lambda").get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"


def test_the_library_internals_the_local_cloud_reads_are_as_pinned():
    """infra/durable.py builds the wire API's handlers with the library's web server method (reading only its
    executor), overrides its LambdaInvoker.invoke and launches stored executions with Executor._launch_execution:
    a new version that changes them must fail here first."""
    import inspect

    from aws_durable_execution_sdk_python_testing.invoker import LambdaInvoker
    from aws_durable_execution_sdk_python_testing.web.server import WebServer

    source = inspect.getsource(WebServer._create_endpoint_handlers)
    assert {name for name in ("self.executor", "self.router", "self.config") if name in source} == {"self.executor"}
    assert list(inspect.signature(LambdaInvoker.invoke).parameters) == [
        "self", "function_name", "input", "endpoint_url", "tenant_id", "account_id", "region_name"]
    assert list(inspect.signature(LambdaInvoker.__init__).parameters)[:3] == ["self", "lambda_client",
                                                                              "max_page_bytes"]
    from aws_durable_execution_sdk_python_testing import execution
    from aws_durable_execution_sdk_python_testing.executor import Executor

    # infra.durable replaces Execution.new (Lambda's ARNs): the library's builds the execution from its input and
    # no operations, and names it, nothing else (read from the module's source: the attribute may be replaced)
    source = inspect.getsource(execution)
    original = source[source.index("    def new(input: StartDurableExecutionInput) -> Execution:"):]
    original = original[:original.index("    def to_json_dict")]
    assert "start_input=input," in original and "operations=[]," in original and original.count("Execution(") == 1
    assert "Execution.new(input=input)" in inspect.getsource(Executor._create_execution)
    assert list(inspect.signature(execution.Execution.__init__).parameters) == [
        "self", "durable_execution_arn", "start_input", "operations"]

    # a restart's resume launches a stored execution as start_execution launches a new one
    assert list(inspect.signature(Executor._launch_execution).parameters) == ["self", "execution", "timeout_seconds"]
    assert "self._launch_execution(execution, input.execution_timeout_seconds)" in inspect.getsource(
        Executor.start_execution)


def test_chained_invokes_run_a_plain_function_once_and_a_durable_one_as_a_child_execution(cloud):
    answer = start(cloud, {"order": "o-7", "chain": True})
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    assert result == {"order": "o-7", "price": {"price": 30}, "shipped": {"shipped": "o-7", "label": "label-o-7"}}
    children = cloud.client("lambda").list_durable_executions_by_function(FunctionName=cloud.physical_id("Shipping"))
    assert [c["Status"] for c in children["DurableExecutions"]] == ["SUCCEEDED"]
    # a chained target's error fails the parent's operation, and the handler's exception the execution
    failed = start(cloud, {"order": "unpriceable", "chain": True})
    assert failed["FunctionError"] == "Unhandled"
    assert "no price for it" in failed["Payload"].read().decode()


def test_an_alias_s_invoke_starts_an_execution_too(cloud):
    """The samples invoke their AutoPublishAlias (name:live, or the alias ARN), which moto resolves first."""
    lambda_ = cloud.client("lambda")
    answer = lambda_.invoke(FunctionName=f"{cloud.physical_id('Orders')}:live",
                            Payload=json.dumps({"order": "o-8", "wait": 0}))
    assert json.loads(answer["Payload"].read())["charged"]["charged"] == "o-8"
    assert lambda_.get_durable_execution(DurableExecutionArn=answer["DurableExecutionArn"])["Status"] == "SUCCEEDED"
    queued = lambda_.invoke(FunctionName=cloud.physical_id("Orders"), Qualifier="live", InvocationType="Event",
                            Payload=json.dumps({"order": "o-9", "wait": 0}))
    assert queued["StatusCode"] == 202
    wait_for(lambda: lambda_.get_durable_execution(
        DurableExecutionArn=queued["DurableExecutionArn"])["Status"] == "SUCCEEDED", 30)

"""A LocalCloud of a small fixture template: moto invoke paths, Step Functions, resources, handlers reaching AWS."""
from __future__ import annotations

import base64
import collections
import contextlib
import itertools
import json
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from infra import runtime
from infra.cloud import CloudError, LocalCloud
from infra.runtime import FunctionError, Throttled
from racing import race

TEMPLATE = Path(__file__).parent / "fixtures" / "h1" / "basic.yaml"


def http_client(cloud, service: str, region_name: str = "us-east-1"):
    """A client of the emulator without retries."""
    return boto3.client(service, endpoint_url=cloud.aws_endpoint, region_name=region_name, aws_access_key_id="t",
                        aws_secret_access_key="t", config=Config(retries={"max_attempts": 0}))


@contextlib.contextmanager
def over_http(cloud):
    """Requests really go over HTTP to moto (the in-process paths are off)."""
    from infra import emulator

    runtime.disable_fast_invoke()
    emulator.stop_serving_in_process()
    try:
        yield
    finally:
        runtime.enable_fast_invoke(cloud.aws_endpoint)
        emulator.serve_in_process(cloud.aws_endpoint)


def test_invoke_by_logical_id_or_name(cloud):
    assert cloud.invoke("Echo", {"a": 1}) == {"event": {"a": 1}, "greeting": "hello", "function": "notifyx-Echo"}
    assert cloud.invoke("notifyx-Echo", {})["function"] == "notifyx-Echo"
    assert cloud.physical_id("Context") == "fixture-context"  # named in the template


def test_boto3_invoke_of_a_failing_function_has_lambdas_error_shape(cloud):
    event = b'{"why": "declined"}'
    responses = [cloud.client("lambda").invoke(FunctionName=cloud.physical_id("Fail"), Payload=event)]
    with over_http(cloud):
        responses.append(http_client(cloud, "lambda").invoke(FunctionName="notifyx-Fail", Payload=event))
    request_ids = []
    for response in responses:
        assert response["StatusCode"] == 200
        assert response["FunctionError"] == "Unhandled"  # Lambda's for an exception its runtime reports
        payload = json.loads(response["Payload"].read())
        # awslambdaric's make_error: these keys in this order, requestId the invocation's
        assert list(payload) == ["errorMessage", "errorType", "requestId", "stackTrace"], payload
        assert payload["errorType"] == "PaymentRequired"
        assert payload["errorMessage"] == "declined"
        assert payload["stackTrace"]
        assert payload["requestId"] == response["ResponseMetadata"]["RequestId"]  # the answer names it too
        request_ids.append(payload["requestId"])
    assert len(set(request_ids)) == 2, request_ids
    # the function's log names each invocation's request id in its START line
    messages = log_lines(cloud, "/aws/lambda/notifyx-Fail",
                         lambda m: set(request_ids) <= {x.split()[2] for x in m if x.startswith("START RequestId: ")})
    started = {m.split()[2] for m in messages if m.startswith("START RequestId: ")}
    assert set(request_ids) <= started, (request_ids, started)


def log_lines(cloud, group: str, wanted, seconds: float = 10) -> list[str]:
    """The messages of a CloudWatch Logs group, once `wanted(messages)` holds (or at the deadline)."""
    logs = cloud.client("logs")
    deadline = time.monotonic() + seconds
    while True:
        try:
            messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        except logs.exceptions.ResourceNotFoundException:  # the first lines are on their way
            messages = []
        if wanted(messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def test_invoke_answers_its_request_id_and_with_log_type_tail_its_log(cloud):
    """Invoke's answer names the invocation's request id (x-amzn-RequestId, the one its log and context see); with
    LogType=Tail it carries the last 4 KB of the invocation's log, base64 (`aws lambda invoke --log-type Tail`); an
    Event invoke's 202 names the request the function then runs as."""
    text = "é" * 3000  # 6,000 bytes of output: only the end fits in 4 KB
    answers = [cloud.client("lambda").invoke(FunctionName="notifyx-Log", Payload=b"{}", LogType="Tail"),
               cloud.client("lambda").invoke(FunctionName="notifyx-Log", Payload=json.dumps({"text": text}),
                                             LogType="Tail")]
    with over_http(cloud):
        answers += [http_client(cloud, "lambda").invoke(FunctionName="notifyx-Log", Payload=b"{}", LogType="Tail"),
                    http_client(cloud, "lambda").invoke(FunctionName="notifyx-Log", Payload=b"{}")]
    for answer in answers[:3]:
        request_id = answer["ResponseMetadata"]["RequestId"]
        tail = base64.b64decode(answer["LogResult"])
        assert len(tail) <= 4096
        log = tail.decode().splitlines()
        assert log[-2:] == [f"END RequestId: {request_id}", log[-1]]
        assert log[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
        if answer is answers[1]:
            assert log[0] == "é" * len(log[0]) and len(tail) > 4090  # cut to 4 KB of whole characters
        else:
            assert log[0] == f"START RequestId: {request_id} Version: $LATEST"
            assert "printed line" in log
    assert "LogResult" not in answers[3]  # no LogType: no log
    request_ids = {answer["ResponseMetadata"]["RequestId"] for answer in answers}
    assert len(request_ids) == 4 and all(len(r) == 36 for r in request_ids), request_ids

    queued = [cloud.client("lambda").invoke(FunctionName="notifyx-Log", Payload=b"{}", InvocationType="Event")]
    with over_http(cloud):
        queued.append(http_client(cloud, "lambda").invoke(FunctionName="notifyx-Log", Payload=b"{}",
                                                          InvocationType="Event"))
    assert [q["StatusCode"] for q in queued] == [202, 202]
    request_ids |= {q["ResponseMetadata"]["RequestId"] for q in queued}
    started = {f"START RequestId: {r} Version: $LATEST" for r in request_ids}
    messages = log_lines(cloud, "/aws/lambda/notifyx-Log", lambda m: started <= set(m))
    assert started <= set(messages), (started, messages)


def test_a_timed_out_invocation_is_logged_and_its_tail_says_so(cloud):
    """Lambda logs a timed-out invocation: START, what it printed until then, END, REPORT and "Task timed out after
    N seconds". The local cloud logged nothing for it (the sandbox it killed held the output)."""
    event = json.dumps({"seconds": 3, "say": "about to sleep"})
    answer = cloud.client("lambda").invoke(FunctionName="notifyx-Slow", Payload=event, LogType="Tail")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "Sandbox.Timedout"
    request_id = answer["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(answer["LogResult"]).decode().splitlines()
    assert log[:3] == [f"START RequestId: {request_id} Version: $LATEST", "about to sleep",
                       f"END RequestId: {request_id}"]
    assert log[3].startswith(f"REPORT RequestId: {request_id}\tDuration: 1000.00 ms\t")
    assert int(log[3].split("Max Memory Used: ")[1].split()[0]) > 0  # the sandbox's peak, as it answered
    assert log[4].endswith(f"Z {request_id} Task timed out after 1.00 seconds") and len(log) == 5
    messages = log_lines(cloud, "/aws/lambda/notifyx-Slow", lambda m: log[4] in m)
    assert log[4] in messages and log[0] in messages and "about to sleep" in messages


def test_in_process_and_http_invoke_answer_the_same(cloud):
    fast = cloud.client("lambda").invoke(FunctionName="notifyx-Echo", Payload=b'{"k": "v"}')
    with over_http(cloud):
        slow = http_client(cloud, "lambda").invoke(FunctionName="notifyx-Echo", Payload=b'{"k": "v"}')
    assert "x-amz-log-result" not in fast["ResponseMetadata"]["HTTPHeaders"]
    assert fast["ResponseMetadata"]["HTTPHeaders"]["content-type"] == \
        slow["ResponseMetadata"]["HTTPHeaders"]["content-type"]
    assert json.loads(fast["Payload"].read()) == json.loads(slow["Payload"].read())
    assert fast["StatusCode"] == slow["StatusCode"] == 200
    assert "FunctionError" not in fast and "FunctionError" not in slow


def test_an_invoke_s_body_is_its_event_whatever_its_content_type(cloud):
    """Lambda reads an Invoke's body as the event whatever Content-Type it has; `curl --aws-sigv4 ... -d` sends
    application/x-www-form-urlencoded, which werkzeug parsed into form fields (moto answered 404, nothing ran)."""
    import urllib.request

    signed = "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=x"
    url = f"{cloud.aws_endpoint}/2015-03-31/functions/notifyx-Echo/invocations"
    for content_type in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "text/plain"):
        request = urllib.request.Request(url, data=b'{"a": "b+c&d=e"}', method="POST",
                                         headers={"Content-Type": content_type, "Authorization": signed})
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the test's own emulator
            assert answer.status == 200, content_type
            assert json.loads(answer.read())["event"] == {"a": "b+c&d=e"}, content_type
    before = cloud.runtime.stats()["notifyx-Count"]["invocations"]
    request = urllib.request.Request(f"{cloud.aws_endpoint}/2014-11-13/functions/notifyx-Count/invoke-async/",
                                     data=b'{"n": 1}', method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Authorization": signed})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the test's own emulator
        assert answer.status == 202
    deadline = time.monotonic() + 10
    while cloud.runtime.stats()["notifyx-Count"]["invocations"] == before:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_timeout_through_boto3(cloud):
    with over_http(cloud):
        response = http_client(cloud, "lambda").invoke(FunctionName="notifyx-Slow", Payload=b'{"seconds": 3}')
    assert json.loads(response["Payload"].read())["errorMessage"] == "Task timed out after 1.00 seconds"


def test_reserved_concurrency_is_429_through_boto3(cloud):
    holder = threading.Thread(target=cloud.invoke, args=("Single", {"seconds": 0.8}))
    holder.start()
    time.sleep(0.3)
    try:
        # without retries: boto3 retries a 429 as AWS's SDKs do, which would wait for the slot
        lam = http_client(cloud, "lambda")
        for path in (contextlib.nullcontext(), over_http(cloud)):
            with path, pytest.raises(lam.exceptions.TooManyRequestsException) as caught:
                lam.invoke(FunctionName="notifyx-Single", Payload=b'{"seconds": 0}')
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        holder.join()
    assert http_client(cloud, "lambda").get_function_concurrency(
        FunctionName="notifyx-Single")["ReservedConcurrentExecutions"] == 1


def test_handlers_reach_the_emulator_with_no_configuration(cloud):
    assert cloud.invoke("PutItem", {"id": "from-a-handler"}) == "from-a-handler"
    item = cloud.client("dynamodb").get_item(TableName=cloud.physical_id("ItemsTable"),
                                             Key={"id": {"S": "from-a-handler"}})
    assert item["Item"]["id"]["S"] == "from-a-handler"


def test_table_has_its_index_stream_and_ttl(cloud):
    ddb = http_client(cloud, "dynamodb")
    table = ddb.describe_table(TableName="notifyx-ItemsTable")["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_kind"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert cloud.stack.resources["ItemsTable"].attributes["StreamArn"] == table["LatestStreamArn"]
    ttl = ddb.describe_time_to_live(TableName="notifyx-ItemsTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_queue_has_its_attributes_and_redrive(cloud):
    sqs = http_client(cloud, "sqs")
    url = cloud.physical_id("WorkQueue")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "7"
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": cloud.stack.resources["WorkDeadLetters"].attributes["Arn"], "maxReceiveCount": 2}


def test_parameters_and_outputs(cloud):
    assert cloud.stack.parameters == {"Greeting": "hello", "StepTimeoutSeconds": "5"}
    assert cloud.stack.outputs == {
        "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/notifyx-ItemsTable",
        "Joined": "us-east-1/b/123456789012-hello",
        "SubWithVariables": "hello:notifyx-WorkQueue",
    }


def run_to_end(sfn, machine: str, execution_input: str = "{}", seconds: float = 15, **start: str) -> dict:
    """Start an execution of `machine` and answer its description once it is no longer RUNNING (within
    `seconds`, or the test fails)."""
    execution = sfn.start_execution(stateMachineArn=machine, input=execution_input, **start)["executionArn"]
    deadline = time.monotonic() + seconds
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"the execution did not finish within {seconds} s"
        time.sleep(0.02)
    return described


def run_execution(cloud, transaction: dict) -> dict:
    return run_to_end(http_client(cloud, "stepfunctions"), cloud.physical_id("Flow"),
                      json.dumps({"transaction": transaction}), seconds=30, name=f"t-{time.time_ns()}")


def test_state_machine_runs_the_fixture_handlers(cloud):
    result = run_execution(cloud, {"id": "t1"})
    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["persist"] == {"vote": "YES", "by": "notifyx-Persist"}
    assert output["counter"] == {"vote": "YES", "by": "notifyx-Counter"}


def test_state_machine_failure_path_is_caught(cloud):
    result = run_execution(cloud, {"id": "t2", "fail": "Counter"})
    assert result["status"] == "FAILED"
    assert result["error"] == "VoteRefused"


def test_state_machine_definition_got_its_substitutions(cloud):
    definition = json.loads(http_client(cloud, "stepfunctions").describe_state_machine(
        stateMachineArn=cloud.physical_id("Flow"))["definition"])
    assert definition["States"]["Persist"]["TimeoutSeconds"] == 5
    assert definition["States"]["Persist"]["Parameters"]["FunctionName"] == \
        cloud.stack.resources["Persist"].attributes["Arn"]


def test_only_one_local_cloud_per_process(cloud):
    with pytest.raises(CloudError, match="already running"):
        LocalCloud(TEMPLATE).start()


def test_function_error_from_cloud_invoke(cloud):
    with pytest.raises(FunctionError, match="^no money$"):
        cloud.invoke("Fail", {})


def test_async_invoke_is_accepted_and_runs_in_the_background(cloud):
    before = cloud.runtime.stats()["notifyx-Count"]["invocations"]
    response = cloud.client("lambda").invoke(FunctionName="notifyx-Count", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 10
    while cloud.runtime.stats()["notifyx-Count"]["invocations"] == before:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def outcomes_when_all_are(expected: object, executions: list[str], outcome, seconds: float) -> dict:
    """Each execution's `outcome(execution)`, read again until all are `expected` or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        outcomes = {execution: outcome(execution) for execution in executions}
        if all(found == expected for found in outcomes.values()) or time.monotonic() > deadline:
            return outcomes
        time.sleep(0.05)


def test_an_execution_stopped_right_after_its_start_is_aborted(cloud):
    """StopExecution right after StartExecution: moto failed it with a 500 when the execution's thread had not made
    its environment yet, dropped it when its program had not begun, and a Wait state that began to sleep after the
    stop waited out its Seconds; each left the execution RUNNING. On AWS it is ABORTED."""
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="hold-then-stop", roleArn="arn:aws:iam::123456789012:role/hold",
        definition=json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}})
    )["stateMachineArn"]
    executions = []
    for i in range(20):
        executions.append(sfn.start_execution(stateMachineArn=machine, name=f"stop-{i}", input="{}")["executionArn"])
        sfn.stop_execution(executionArn=executions[-1])
    def ended(execution: str) -> tuple[str, list[str]]:
        events = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
        return sfn.describe_execution(executionArn=execution)["status"], events[:1] + events[-1:]

    expected = ("ABORTED", ["ExecutionStarted", "ExecutionAborted"])
    # 10 s: well inside the Wait's 60 s, so the stop ended them, not the Wait
    outcomes = outcomes_when_all_are(expected, executions, ended, 10)
    assert all(outcome == expected for outcome in outcomes.values()), outcomes


def test_executions_stopped_while_their_parallel_state_runs_are_aborted(cloud):
    """StopExecution while a Parallel state opens its branches or runs a Lambda task: a branch opened after the
    stop died before telling the Parallel state (the execution stayed RUNNING for good), and a task the stop caught
    mid-way failed on the interpreter's own error, which replaced the stop (FAILED). On AWS each is ABORTED."""
    sfn = cloud.client("stepfunctions")
    echo = cloud.client("lambda").get_function(FunctionName=cloud.physical_id("Echo"))["Configuration"]["FunctionArn"]
    branch = {"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": echo, "End": True}}}
    machine = sfn.create_state_machine(
        name="parallel-then-stop", roleArn="arn:aws:iam::123456789012:role/parallel",
        definition=json.dumps({"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "Branches": [branch, branch, {"StartAt": "Hold", "States": {
                "Hold": {"Type": "Wait", "Seconds": 60, "End": True}}}], "End": True}}}))["stateMachineArn"]
    executions = []
    for i in range(60):
        executions.append(sfn.start_execution(stateMachineArn=machine, name=f"p-{i}", input="{}")["executionArn"])
        time.sleep(i % 6 / 1000)  # the stop lands at different points of the Parallel state's start
        sfn.stop_execution(executionArn=executions[-1])
    def ended(execution: str) -> tuple[str, str]:
        last = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=1)["events"]
        return sfn.describe_execution(executionArn=execution)["status"], last[0]["type"]

    expected = ("ABORTED", "ExecutionAborted")
    outcomes = outcomes_when_all_are(expected, executions, ended, 15)  # well inside the Wait's 60 s
    assert all(outcome == expected for outcome in outcomes.values()), collections.Counter(outcomes.values())


def test_a_parallel_branch_whose_interpreter_fails_fails_the_execution(cloud, monkeypatch):
    """A branch whose program raised (not a state's error: the interpreter's own) killed its thread before it told
    the Parallel state, which then waited forever: the execution stayed RUNNING. Now the Parallel state fails with
    States.Runtime, as the interpreter fails an execution for its own errors."""
    from moto.stepfunctions.parser.asl.component.program.program import Program

    original = Program.eval

    def failing_in_branches(self, env):
        if env.is_frame():
            raise RuntimeError("the interpreter broke")
        original(self, env)

    monkeypatch.setattr(Program, "eval", failing_in_branches)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the branch's thread reports it there
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="branch-breaks", roleArn="arn:aws:iam::123456789012:role/branch",
        definition=json.dumps({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}]}}}),
    )["stateMachineArn"]
    described = run_to_end(sfn, machine, seconds=10)
    assert (described["status"], described.get("error")) == ("FAILED", "States.Runtime"), described
    assert "the interpreter broke" in described.get("cause", "")


def test_a_parallel_branch_or_map_iteration_that_times_out_is_caught_as_states_timeout(cloud):
    """A branch or an iteration failing with a States.* error fails its Parallel or Map state with that error, which
    a Catch for it takes. moto made it a custom error name, which refuses the States. prefix: the execution failed
    with States.Runtime ("Custom Error Names MUST NOT begin with the prefix 'States.'")."""
    sfn = cloud.client("stepfunctions")
    single = cloud.client("lambda").get_function(
        FunctionName=cloud.physical_id("Single"))["Configuration"]["FunctionArn"]
    task = {"Type": "Task", "Resource": single, "Parameters": {"seconds": 2}, "TimeoutSeconds": 1, "End": True}
    processor = {"StartAt": "Sleep", "States": {"Sleep": task}}
    catch = [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.caught", "Next": "Caught"}]
    states = {"Parallel": {"Type": "Parallel", "Branches": [processor], "Catch": catch, "End": True},
              "Map": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
                  "ProcessorConfig": {"Mode": "INLINE"}, **processor}, "Catch": catch, "End": True}}
    for kind, state in states.items():
        free_by = time.monotonic() + 10
        while True:  # Single (reserved concurrency 1) is free once the last task's 2 s sleep has ended
            try:
                cloud.invoke("Single", {"seconds": 0})
                break
            except runtime.Throttled:
                assert time.monotonic() < free_by
                time.sleep(0.1)
        machine = sfn.create_state_machine(
            name=f"{kind.lower()}-times-out", roleArn="arn:aws:iam::123456789012:role/times-out",
            definition=json.dumps({"StartAt": kind, "States": {kind: state, "Caught": {"Type": "Pass", "End": True}}}),
        )["stateMachineArn"]
        described = run_to_end(sfn, machine, '{"items": [1]}')
        assert described["status"] == "SUCCEEDED", (kind, described.get("error"), described.get("cause"))
        assert json.loads(described["output"])["caught"]["Error"] == "States.Timeout", described["output"]


def test_a_throttled_lambda_task_is_lambda_too_many_requests_for_retry_and_catch(cloud):
    """A Lambda task whose function is throttled fails with Lambda.TooManyRequestsException, the error AWS's
    recommended Retry names. moto named it "Exception", so neither that Retry nor a Catch for it matched."""
    sfn = cloud.client("stepfunctions")
    single = cloud.client("lambda").get_function(
        FunctionName=cloud.physical_id("Single"))["Configuration"]["FunctionArn"]
    machine = sfn.create_state_machine(
        name="throttled-task", roleArn="arn:aws:iam::123456789012:role/throttled",
        definition=json.dumps({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": single, "Parameters": {"seconds": 0}, "End": True,
                     "Catch": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "ResultPath": "$.caught",
                                "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    deadline = time.monotonic() + 10
    while True:  # an invocation an earlier test's timed-out task left running may still hold Single's one slot
        try:
            cloud.invoke("Single", {"seconds": 0})
            break
        except Throttled:
            assert time.monotonic() < deadline, "Single stayed busy"
            time.sleep(0.1)
    busy = threading.Thread(target=cloud.invoke, args=("Single", {"seconds": 2}))  # reserved concurrency 1
    busy.start()
    try:
        time.sleep(0.3)
        described = run_to_end(sfn, machine, seconds=10)
        assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
        caught = json.loads(described["output"])["caught"]
        assert caught["Error"] == "Lambda.TooManyRequestsException", caught
        assert "Error Code: TooManyRequestsException" in caught["Cause"], caught
    finally:
        busy.join(10)


def test_listing_executions_while_one_is_being_started(cloud, monkeypatch):
    """moto lists an execution with its state machine before it has a status: ListExecutions in that window
    failed (AttributeError, a 500). An execution StartExecution has accepted is RUNNING."""
    from moto.stepfunctions.parser.backend.execution import Execution

    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="listed-while-starting", roleArn="arn:aws:iam::123456789012:role/listed",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    starting, listed = threading.Event(), threading.Event()
    original = Execution.start

    def slow_start(self):
        starting.set()
        listed.wait(10)  # the execution is listed, not yet started
        original(self)

    monkeypatch.setattr(Execution, "start", slow_start)
    starter = threading.Thread(target=lambda: sfn.start_execution(stateMachineArn=machine, name="slow"))
    starter.start()
    try:
        assert starting.wait(10)
        answers = [sfn.list_executions(stateMachineArn=machine),
                   sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")]
        with over_http(cloud):
            answers.append(http_client(cloud, "stepfunctions").list_executions(stateMachineArn=machine))
        for answer in answers:
            assert [(e["name"], e["status"]) for e in answer["executions"]] == [("slow", "RUNNING")]
    finally:
        listed.set()
        starter.join(10)


def test_concurrent_receivers_take_each_message_once_and_a_fifo_group_in_order(cloud):
    """moto's ReceiveMessage checks that a message may be taken and marks it taken in two steps, and DeleteMessage
    rebuilds the queue's list: receivers at once got the same message (the first receipt handle then no longer
    deleted it), a FIFO group's messages reached two consumers out of order, and a message sent during a delete
    could be lost. Eight receivers and two senders at once, with the interpreter switching threads as often as
    it can: every message is taken once, none is lost, each group in order."""
    sqs = cloud.client("sqs")
    queues = {"standard": sqs.create_queue(QueueName="many-receivers", Attributes={"VisibilityTimeout": "60"}),
              "fifo": sqs.create_queue(QueueName="many-receivers.fifo", Attributes={
                  "FifoQueue": "true", "VisibilityTimeout": "60"})}
    urls = {kind: answer["QueueUrl"] for kind, answer in queues.items()}
    sent = {kind: set() for kind in urls}

    def send(kind: str, prefix: str, count: int) -> None:
        for first in range(0, count, 10):
            entries = [{"Id": str(i), "MessageBody": f"{prefix}-{first + i}"} for i in range(10)]
            if kind == "fifo":
                for entry in entries:
                    entry.update(MessageGroupId=prefix, MessageDeduplicationId=entry["MessageBody"])
            sqs.send_message_batch(QueueUrl=urls[kind], Entries=entries)
            sent[kind].update(entry["MessageBody"] for entry in entries)

    for group in ("a", "b", "c"):
        send("fifo", group, 30)
    send("standard", "s", 90)
    taken: dict[str, list[str]] = {kind: [] for kind in urls}
    failures: list[object] = []
    lock = threading.Lock()
    sending = threading.Event()
    sending.set()

    def receive(kind: str) -> None:
        idle = 0
        while idle < 3:
            answer = sqs.receive_message(QueueUrl=urls[kind], MaxNumberOfMessages=3, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                idle += 0 if sending.is_set() else 1
                time.sleep(0.01)
                continue
            idle = 0
            with lock:
                taken[kind] += [m["Body"] for m in messages]
            deleted = sqs.delete_message_batch(QueueUrl=urls[kind], Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            failures.extend(deleted.get("Failed", []))

    threads = [threading.Thread(target=receive, args=(kind,)) for kind in urls for _ in range(4)]
    threads += [threading.Thread(target=send, args=(kind, f"late-{kind}", 30)) for kind in urls]

    def until_sent() -> None:
        for thread in threads[-2:]:
            thread.join(60)
        sending.clear()

    race(threads, meanwhile=until_sent, join_seconds=60)
    assert failures == []
    for kind in urls:
        assert sorted(taken[kind]) == sorted(sent[kind]), (kind, collections.Counter(taken[kind]).most_common(3),
                                                           sorted(sent[kind] - set(taken[kind]))[:3])
    for group in ("a", "b", "c", "late-fifo"):
        numbers = [int(body.rsplit("-", 1)[1]) for body in taken["fifo"] if body.rsplit("-", 1)[0] == group]
        assert numbers == sorted(numbers), (group, numbers)


def test_a_receive_during_a_send_message_batch_waits_for_the_whole_batch(cloud, monkeypatch):
    """moto queues each message of a batch, then gives it its entry's Id: a receive in between deep-copied a message
    as its attributes changed and failed (a concurrent-receivers run: "dictionary changed size during iteration").
    A batch is now one step for receivers: a receive that starts after the batch's first message was queued
    answers only once the batch is done."""
    from moto.sqs.models import SQSBackend

    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="batch-and-receive")["QueueUrl"]
    original = SQSBackend.send_message  # what the batch calls for each entry (beneath the emulator's patch)
    answered_during_batch: list[bool] = []
    received: list[dict] = []

    def receive() -> None:
        received.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))

    def send_and_receive_meanwhile(self, queue_name, *args, **kwargs):
        message = original(self, queue_name, *args, **kwargs)
        if not answered_during_batch:  # the first message is queued: a receive now
            receiver = threading.Thread(target=receive)
            receiver.start()
            receiver.join(0.5)
            answered_during_batch.append(not receiver.is_alive())
        return message

    monkeypatch.setattr(SQSBackend, "send_message", send_and_receive_meanwhile)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    assert answered_during_batch == [False]  # before: the receive answered at once, with the first message
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert received and received[0]["Body"] == "m0", received


def test_a_fifo_topic_deduplicates_by_content_for_its_fifo_queues(cloud):
    """SNS makes a FIFO topic's deduplication id from the message body (SHA-256) when the topic has
    ContentBasedDeduplication: its FIFO queues get one message per body within the window, whether or not they
    deduplicate by content themselves. moto passed no id, so the queue refused it and the publish failed."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true",
                                                             "ContentBasedDeduplication": "true"})["TopicArn"]
    queue = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    for body in ("first", "first", "second"):
        sns.publish(TopicArn=topic, Message=body, MessageGroupId="g")
    bodies = []
    for _ in range(3):
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert bodies == ["first", "second"]
    strict = sns.create_topic(Name="strict.fifo", Attributes={"FifoTopic": "true",
                                                              "ContentBasedDeduplication": "false"})["TopicArn"]
    with pytest.raises(ClientError) as refused:  # neither the topic's content nor an explicit id
        sns.publish(TopicArn=strict, Message="x", MessageGroupId="g")
    assert refused.value.response["Error"]["Code"] in ("InvalidParameter", "InvalidParameterValue")


def test_a_deep_queue_costs_a_send_and_a_receive_one_pass_and_counts_as_sqs_does(cloud, monkeypatch):
    """moto read the clock through datetimes per message for each scan of a queue, scanned it three times for
    every send (GetQueueAttributes, for one attribute) and thirty for a receive of ten: at 500 messages a send took
    ~100 ms, a receive ~700 ms, at 2,000 a receive seconds. Counted here as the work a call does per message held
    (Message.visible reads, datetime clock reads, full attribute reads), which must not grow with the queue."""
    from moto.core import utils as moto_utils
    from moto.sqs import models as sqs_models

    sqs = cloud.client("sqs")
    deep, shallow = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("deep", "shallow"))
    for queue, count in ((deep, 2000), (shallow, 20)):
        for start in range(0, count, 10):
            sqs.send_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(i), "MessageBody": f"m{start + i}", **({"DelaySeconds": 60} if start + i < 5 else {})}
                for i in range(10)])
    reads = collections.Counter()
    visible, utcnow, attributes = sqs_models.Message.visible, moto_utils.utcnow, sqs_models.Queue.attributes
    monkeypatch.setattr(sqs_models.Message, "visible", property(
        lambda m: reads.update(["visible"]) or visible.fget(m)))
    monkeypatch.setattr(moto_utils, "utcnow", lambda: reads.update(["utcnow"]) or utcnow())
    monkeypatch.setattr(sqs_models.Queue, "attributes", property(
        lambda q: reads.update(["attributes"]) or attributes.fget(q)))
    work = {}
    for queue in (deep, shallow):
        reads.clear()
        sqs.send_message(QueueUrl=queue, MessageBody="one more")
        taken = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
        assert len(taken) == 10 and not {m["Body"] for m in taken} & {f"m{i}" for i in range(5)}  # 5 delayed
        work[queue] = dict(reads)
    monkeypatch.undo()
    assert work[deep] == work[shallow], work
    counts = sqs.get_queue_attributes(QueueUrl=deep, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesDelayed"],
            counts["ApproximateNumberOfMessagesNotVisible"]) == ("1986", "5", "10")


def test_cloud_map_re_registration_updates_and_deregistrations_skip_no_instance(cloud):
    """RegisterInstance of an existing InstanceId updates it, as Cloud Map does (moto added a second instance:
    DiscoverInstances answered both, and it took two deregistrations); threads registering and deregistering
    instances of one service never miss one of their own (moto's walk of the list skipped an instance that another
    deregistration moved: InstanceNotFound for a registered one)."""
    from moto.servicediscovery.exceptions import InstanceNotFound
    from moto.servicediscovery.models import servicediscovery_backends

    sd = cloud.client("servicediscovery")
    operation = sd.create_http_namespace(Name="registry")["OperationId"]
    namespace = sd.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    service = sd.create_service(Name="workers", NamespaceId=namespace)["Service"]["Id"]
    sd.register_instance(ServiceId=service, InstanceId="x", Attributes={"v": "1"})
    sd.register_instance(ServiceId=service, InstanceId="x", Attributes={"v": "2"})
    assert [(i["Id"], i["Attributes"]) for i in sd.list_instances(ServiceId=service)["Instances"]] == [
        ("x", {"v": "2"})]
    found = sd.discover_instances(NamespaceName="registry", ServiceName="workers")["Instances"]
    assert [(i["InstanceId"], i["Attributes"]) for i in found] == [("x", {"v": "2"})]
    sd.deregister_instance(ServiceId=service, InstanceId="x")
    with pytest.raises(ClientError) as gone:
        sd.deregister_instance(ServiceId=service, InstanceId="x")
    assert gone.value.response["Error"]["Code"] == "InstanceNotFound"

    backend = servicediscovery_backends["123456789012"]["us-east-1"]
    missed, stop = [], time.monotonic() + 2

    def worker(number):
        live = []
        for n in itertools.count():
            if time.monotonic() > stop:
                return
            live.append(f"w{number}-{n}")
            backend.register_instance(service, live[-1], "r", {"k": "v"})
            if len(live) > 10:
                oldest = live.pop(0)
                try:
                    backend.get_instance(service, oldest)
                    backend.deregister_instance(service, oldest)
                except InstanceNotFound:
                    missed.append(oldest)

    race([threading.Thread(target=worker, args=(n,)) for n in range(6)], switch_seconds=1e-6)
    assert not missed, missed[:5]


def test_a_presigned_url_is_refused_after_it_expires(cloud):
    """S3 refuses a presigned URL past its expiry: 403 AccessDenied, "Request has expired". moto answered it for
    ever, so a test of a link's expiry passed locally and failed on AWS."""
    import urllib.error
    import urllib.request

    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="presigned-links")
    s3.put_object(Bucket="presigned-links", Key="report.txt", Body=b"hello")
    # (X-Amz-Date is whole seconds: a URL of 4 s is good for 3 to 4 s, time enough on a busy machine)
    get = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned-links", "Key": "report.txt"},
                                    ExpiresIn=4)
    put = s3.generate_presigned_url("put_object", Params={"Bucket": "presigned-links", "Key": "upload.txt"},
                                    ExpiresIn=4)
    with urllib.request.urlopen(get, timeout=10) as answer:  # noqa: S310 - the test's own emulator
        assert answer.read() == b"hello"
    deadline = time.monotonic() + 7
    for url, method in ((get, "GET"), (put, "PUT")):
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=b"x" if method == "PUT" else None,
                                                                   method=method), timeout=10):
                    pass
            except urllib.error.HTTPError as refused:
                assert refused.code == 403
                body = refused.read()
                assert b"<Code>AccessDenied</Code>" in body and b"<Message>Request has expired</Message>" in body
                break
            assert time.monotonic() < deadline, f"the presigned {method} was answered after its expiry"
            time.sleep(0.2)
    assert "Contents" not in s3.list_objects_v2(Bucket="presigned-links", Prefix="upload.txt")


def test_sns_deliveries_with_binary_attributes_and_filters_of_other_types(cloud):
    """SNS to SQS raw delivery with a Binary attribute: the queue gets its bytes (moto passed the base64 text, and
    every ReceiveMessage asking for attributes failed); a numeric condition on a body value that is a string does
    not match (moto's Publish failed with a 500 after earlier subscribers had the message); equals-ignore-case
    matches whatever case the policy is written in (moto: lower case only)."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="typed-deliveries")["TopicArn"]

    def queue(name, **attributes):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true", **attributes})
        return url

    def bodies(url):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                       WaitTimeSeconds=1).get("Messages", [])
        return messages

    everything = queue("typed-all")
    priced = queue("typed-priced", FilterPolicyScope="MessageBody",
                   FilterPolicy=json.dumps({"price": [{"numeric": [">", 0]}]}))
    stores = queue("typed-stores", FilterPolicy=json.dumps({"store": [{"equals-ignore-case": "EXAMPLE"}]}))

    sns.publish(TopicArn=topic, Message="bin", MessageAttributes={
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}, "store": {"DataType": "String", "StringValue": "x"}})
    [binary] = bodies(everything)
    assert binary["Body"] == "bin" and binary["MessageAttributes"]["b"] == {"DataType": "Binary",
                                                                             "BinaryValue": b"\x00\x01"}
    direct = sqs.send_message(QueueUrl=everything, MessageBody="bin", MessageAttributes={
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}, "store": {"DataType": "String", "StringValue": "x"}})
    assert binary["MD5OfMessageAttributes"] == direct["MD5OfMessageAttributes"]
    sqs.purge_queue(QueueUrl=everything)

    sns.publish(TopicArn=topic, Message=json.dumps({"price": "12"}))  # a string: no number to compare
    sns.publish(TopicArn=topic, Message=json.dumps({"price": 12}))
    assert [m["Body"] for m in bodies(priced)] == ['{"price": 12}']
    sns.publish(TopicArn=topic, Message="shop", MessageAttributes={"store": {"DataType": "String",
                                                                             "StringValue": "example"}})
    assert [m["Body"] for m in bodies(stores)] == ["shop"]


def test_an_or_in_a_message_body_filter_policy_matches_any_of_its_alternatives(cloud):
    """"$or" in a MessageBody filter policy, beside a condition, an alternative nesting a property (moto checked the
    alternatives as message attributes: a TypeError, so the policy matched nothing)."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="or-bodies")["TopicArn"]
    url = sqs.create_queue(QueueName="or-bodies")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"store": ["north"], "$or": [{"kind": ["order"]}, {"detail": {"size": [{"numeric": [">", 5]}]}}]}
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps(policy)})
    sent = [{"n": 1, "store": "north", "kind": "order"},                           # the first alternative
            {"n": 2, "store": "north", "kind": "quote", "detail": {"size": 9}},    # the nested one
            {"n": 3, "store": "south", "kind": "order"},                           # not the store
            {"n": 4, "store": "north", "kind": "quote", "detail": {"size": 2}},    # neither alternative
            {"n": 5, "store": "north", "detail": "big"},                           # a string is not an object
            {"n": 6, "store": "north", "kind": "order", "detail": {"size": "9"}}]  # a string size: the other branch
    for body in sent:
        sns.publish(TopicArn=topic, Message=json.dumps(body))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(json.loads(m["Body"])["n"] for m in got) == [1, 2, 6]


def test_calls_of_another_region_are_answered_from_that_region(cloud):
    """A handler's client of eu-west-1 (DynamoDB: answered at before-call) and this process's (CloudWatch Logs:
    answered at before-send) reach that region's resources, as over HTTP, where the signature's credential scope
    names it."""
    with over_http(cloud):
        elsewhere = http_client(cloud, "dynamodb", region_name="eu-west-1")
        elsewhere.create_table(TableName="regional", BillingMode="PAY_PER_REQUEST",
                               AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    try:
        assert cloud.invoke("PutItem", {"id": "far", "region": "eu-west-1", "table": "regional"}) == "far"
        with over_http(cloud):
            assert elsewhere.get_item(TableName="regional", Key={"id": {"S": "far"}})["Item"]["id"]["S"] == "far"
            http_client(cloud, "logs", region_name="eu-west-1").create_log_group(logGroupName="far-group")
        logs = http_client(cloud, "logs", region_name="eu-west-1")  # in process now
        assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="far")["logGroups"]] == [
            "far-group"]
        assert http_client(cloud, "logs").describe_log_groups(logGroupNamePrefix="far")["logGroups"] == []
        logs.delete_log_group(logGroupName="far-group")
    finally:
        with over_http(cloud):
            elsewhere.delete_table(TableName="regional")


def test_a_taken_aws_port_is_a_clear_error(cloud):
    from infra.emulator import Emulator, EmulatorError

    port = int(cloud.aws_endpoint.rsplit(":", 1)[1])
    with pytest.raises(EmulatorError, match=f"127.0.0.1:{port}"):
        Emulator(port).start()


def test_this_process_reaches_the_emulator_in_process_with_the_same_state(cloud, monkeypatch):
    from infra import emulator

    answered = []
    original = emulator.DirectDynamoDB.__call__

    def recording(self, model, params, **kwargs):
        answer = original(self, model, params, **kwargs)
        answered.append((model.name, answer is not None))
        return answer

    # the handler's PutItem (in its sandbox) reaches this process's direct DynamoDB path, not HTTP
    monkeypatch.setattr(emulator.DirectDynamoDB, "__call__", recording)
    assert cloud.invoke("PutItem", {"id": "in-process"}) == "in-process"
    assert ("PutItem", True) in answered
    # what the handler wrote in process is what the HTTP server (other processes) sees
    with over_http(cloud):
        item = http_client(cloud, "dynamodb").get_item(TableName="notifyx-ItemsTable", Key={"id": {"S": "in-process"}})
    assert item["Item"]["id"]["S"] == "in-process"
    # answers that carry the request's host still come from the server, so URLs point at the emulator
    url = http_client(cloud, "sqs").create_queue(QueueName="made-by-a-test")["QueueUrl"]
    assert url.startswith(cloud.aws_endpoint)

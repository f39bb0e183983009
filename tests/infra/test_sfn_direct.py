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


def test_an_unnamed_execution_gets_a_uuid_and_names_aws_refuses_are_refused(emulator_endpoint, machine):
    """sfn-named-executions: moto's interpreter named every unnamed execution "None" (the second unnamed start
    answered the first one's ARN) and took any name. AWS names one with a UUID; the names it refuses are refused
    with moto's own backend's errors, directly and over HTTP alike."""
    import uuid

    from botocore.config import Config

    sfn = client(emulator_endpoint)
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(2)]
    arns.append(over_http(emulator_endpoint, lambda c: c.start_execution(stateMachineArn=machine))["executionArn"])
    names = [arn.rsplit(":", 1)[1] for arn in arns]
    assert len(set(names)) == 3 and all(uuid.UUID(name).version == 4 for name in names), names
    assert [finished(sfn, arn)["status"] for arn in arns] == ["SUCCEEDED"] * 3

    unvalidated = account.client("stepfunctions", emulator_endpoint, config=Config(parameter_validation=False))

    def refusal(name, call):
        with pytest.raises(ClientError) as caught:
            call(lambda c: c.start_execution(stateMachineArn=machine, name=name))
        return caught.value.response["Error"]["Code"]

    def directly(call):
        return call(unvalidated)

    def through_http(call):
        with http_only():
            return call(unvalidated)

    for name, code in (("two words", "InvalidName"), ("star*", "InvalidName"), ("line\nbreak", "InvalidName"),
                       ("x" * 81, "ValidationException")):
        assert refusal(name, directly) == refusal(name, through_http) == code, name
    assert finished(sfn, sfn.start_execution(stateMachineArn=machine, name="x" * 80)["executionArn"])


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


def history_without_timestamps(sfn, arn):
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]


def test_a_finished_execution_answers_its_whole_history_once_it_is_kept_compressed(emulator_endpoint):
    """sfn-finished-history-compacted: after an execution ends its interpreter is let go and its history kept as
    one compressed pickle; GetExecutionHistory answers the same events as with moto's own EventManager."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from infra import moto_patches

    definition = json.dumps({"StartAt": "A", "States": {   # no Parallel: its branches' events interleave freely
        "A": {"Type": "Pass", "Result": {"list": [1, 2]}, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"b.$": "$.in", "a.$": "$.a"}, "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.a.list", "MaxConcurrency": 1, "ResultPath": "$.each",
                 "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "Next": "Fail?"},
        "Fail?": {"Type": "Choice", "Choices": [{"Variable": "$.b", "NumericEquals": 2, "Next": "Bad"}],
                  "Default": "Good"},
        "Bad": {"Type": "Fail", "Error": "Two", "Cause": "b was 2"},
        "Good": {"Type": "Succeed"}}})
    sfn = client(emulator_endpoint)
    arn = sfn.create_state_machine(name="compacted", definition=definition,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    patch = next(p for p in moto_patches.EMULATOR_PATCHES if p.name == "sfn-finished-history-compacted")
    try:
        histories = {}
        for compacted in (False, True):
            (patch.apply if compacted else patch.revert)()
            for value in (1, 2):   # one succeeds, one fails
                name = f"run-{compacted}-{value}"
                started = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"in": value}))
                finished(sfn, started["executionArn"])
                histories[compacted, value] = history_without_timestamps(sfn, started["executionArn"])
        for value in (1, 2):
            assert histories[True, value] == histories[False, value]
            assert len(histories[True, value]) > 8
        assert histories[True, 1][-1]["type"] == "ExecutionSucceeded"
        assert histories[True, 2][-1]["type"] == "ExecutionFailed"
        machine = next(m for m in stepfunctions_parser_backends[account.ACCOUNT_ID][account.REGION].state_machines
                       if m.arn == arn)
        kinds = {e.name: type(e.exec_worker.env.event_manager).__name__ for e in machine.executions}
        assert kinds == {"run-False-1": "EventManager", "run-False-2": "EventManager",
                         "run-True-1": "_FinishedHistory", "run-True-2": "_FinishedHistory"}
        described = sfn.describe_execution(executionArn=arn.replace(":stateMachine:", ":execution:") + ":run-True-1")
        assert described["status"] == "SUCCEEDED"
    finally:
        patch.apply()
        sfn.delete_state_machine(stateMachineArn=arn)


def test_a_timed_out_execution_keeps_the_timed_out_event_its_running_state_adds_later(emulator_endpoint):
    """A machine's TimeoutSeconds ends the execution while its state still runs: the state's thread appends
    ExecutionTimedOut when it returns. The compaction of finished histories must leave that history to it (it
    raised AttributeError in that thread, and the event was lost)."""
    import threading

    definition = json.dumps({"StartAt": "Slow", "TimeoutSeconds": 1, "States": {
        "Slow": {"Type": "Wait", "Seconds": 2, "End": True}}})
    sfn = client(emulator_endpoint)
    arn = sfn.create_state_machine(name="times-out", definition=definition,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    failures = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)
    try:
        # the race is between two threads: ten executions lose it nearly always without the fix
        executions = [sfn.start_execution(stateMachineArn=arn, name=f"slow-{n}", input="{}")["executionArn"]
                      for n in range(10)]
        for execution in executions:
            assert finished(sfn, execution)["status"] == "TIMED_OUT"
            for _ in range(300):
                types = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
                if types[-1] == "ExecutionTimedOut" or failures:
                    break
                time.sleep(0.01)
            assert not failures
            assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionTimedOut"
    finally:
        threading.excepthook = previous_hook
        sfn.delete_state_machine(stateMachineArn=arn)


def test_an_execution_past_the_retention_bound_is_freed_without_a_collection(emulator_endpoint, machine,
                                                                               monkeypatch):
    """The cloud freezes what lives past a second (infra/collector.py), so a cyclic execution dropped later would
    wait for idle time: the retention breaks its cycle, and reference counting frees it at once."""
    import gc
    import weakref

    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from infra import moto_patches

    monkeypatch.setattr(moto_patches, "EXECUTION_RETENTION", 2)
    sfn = client(emulator_endpoint)
    backend = stepfunctions_parser_backends[account.ACCOUNT_ID][account.REGION]
    state_machine = next(m for m in backend.state_machines if m.arn == machine)

    def run(name):
        finished(sfn, sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"])

    for n in range(3):
        run(f"kept-{n}")
    oldest = [weakref.ref(e) for e in state_machine.executions[:-1]]
    gc.collect()
    gc.disable()
    gc.freeze()   # as the cloud's GarbageKeeper does every second
    try:
        run("new-1")
        run("new-2")
        assert [e.name for e in state_machine.executions] == ["new-1", "new-2"]
        assert [ref() for ref in oldest] == [None] * len(oldest)
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_names_a_start_checks_follow_the_executions_kept(emulator_endpoint, machine, monkeypatch):
    """sfn-execution-names-indexed with sfn-bounded-executions: a start refuses the name of every execution the
    state machine keeps (as moto's scan of them does), takes one again once the retention forgot it, and refuses a
    name put in the list behind the emulator's back (the durable state's restore appends to it)."""
    import copy

    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from infra import moto_patches

    monkeypatch.setattr(moto_patches, "EXECUTION_RETENTION", 3)
    sfn = client(emulator_endpoint)
    backend = stepfunctions_parser_backends[account.ACCOUNT_ID][account.REGION]
    state_machine = next(m for m in backend.state_machines if m.arn == machine)
    moto_scan = next(r for r in moto_patches.REGISTRY if r.name == "sfn-execution-names-indexed")._original
    assert moto_scan is not None

    def start(name, data="{}"):
        try:
            return finished(sfn, sfn.start_execution(stateMachineArn=machine, name=name, input=data)["executionArn"])
        except sfn.exceptions.ExecutionAlreadyExists:
            return "refused"

    def scanned(name):
        try:
            return moto_scan(state_machine, name, "{}") and "running"
        except Exception as exc:  # noqa: BLE001 - moto's ExecutionAlreadyExists
            return type(exc).__name__

    for n in range(5):
        assert start(f"names-{n}")["status"] == "SUCCEEDED"
    assert [e.name for e in state_machine.executions][-3:] == ["names-2", "names-3", "names-4"]
    for name in ("names-2", "names-4"):
        assert scanned(name) == "ExecutionAlreadyExists"
        assert start(name) == start(name, '{"other": 1}') == "refused"
    assert scanned("names-0") is None and start("names-0")["status"] == "SUCCEEDED"  # forgotten, so free
    assert start("names-0") == "refused"
    assert "names-2" not in [e.name for e in state_machine.executions]  # names-0 pushed it out
    assert start("names-2")["status"] == "SUCCEEDED"

    restored = copy.copy(state_machine.executions[-1])
    restored.name = "restored"
    state_machine.executions.append(restored)
    assert start("restored") == "refused"


def test_states_data_copied_as_json_answers_what_deepcopy_answers(emulator_endpoint):
    """sfn-json-copy-*: the interpreter's copies of state data (input, output, parameters, the value stack) made
    by direct recursion give the same outputs and histories as copy.deepcopy."""
    from infra import moto_patches

    definition = json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"list": [1, 2.5, None, True], "nested": {"k": ["v"]}}, "ResultPath": "$.a",
              "Next": "B"},
        "B": {"Type": "Pass", "InputPath": "$", "Parameters": {"b.$": "$.in", "a.$": "$.a", "fixed": {"x": [1]}},
              "ResultPath": "$.p", "OutputPath": "$", "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
            {"StartAt": "L", "States": {"L": {"Type": "Pass", "InputPath": "$.p.a", "End": True}}},
            {"StartAt": "R", "States": {"R": {"Type": "Pass", "Parameters": {"r.$": "$.p.b"}, "End": True}}}]},
        "Each": {"Type": "Map", "ItemsPath": "$.a.list", "ResultPath": "$.each",
                 "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "Next": "Fail?"},
        "Fail?": {"Type": "Choice", "Choices": [{"Variable": "$.in", "NumericEquals": 2, "Next": "Bad"}],
                  "Default": "Good"},
        "Bad": {"Type": "Fail", "Error": "Two", "Cause": "in was 2"},
        "Good": {"Type": "Pass", "OutputPath": "$.both", "End": True}}})
    sfn = client(emulator_endpoint)
    arn = sfn.create_state_machine(name="json-copy", definition=definition,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    patches = [p for p in moto_patches.EMULATOR_PATCHES if p.name.startswith("sfn-json-copy-")]
    assert len(patches) == 7 and all(p.applied for p in patches)
    try:
        answers = {}
        for copied_as_json in (False, True):
            for p in patches:
                (p.apply if copied_as_json else p.revert)()
            for value in (1, 2):
                name = f"json-{copied_as_json}-{value}"
                started = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"in": value}))
                done = finished(sfn, started["executionArn"])
                events = history_without_timestamps(sfn, started["executionArn"])
                # ids of a Parallel's branch events follow its threads' interleaving: compared as a multiset
                unordered = sorted(json.dumps({k: v for k, v in e.items() if k not in ("id", "previousEventId")},
                                              sort_keys=True) for e in events)
                answers[copied_as_json, value] = (done["status"], done.get("output"), len(events), unordered)
        for value in (1, 2):
            assert answers[True, value] == answers[False, value]
        assert answers[True, 1][0] == "SUCCEEDED" and answers[True, 2][0] == "FAILED"
        assert json.loads(answers[True, 1][1]) == [{"list": [1, 2.5, None, True], "nested": {"k": ["v"]}}, {"r": 1}]
    finally:
        for p in patches:
            p.apply()
        sfn.delete_state_machine(stateMachineArn=arn)


def test_the_context_objects_entered_time_is_written_as_aws_writes_it(emulator_endpoint):
    """"2019-03-26T20:14:13.192Z" (AWS's documented context object): milliseconds and a Z, not Python's
    isoformat ("...13.192345+00:00"); a definition may store it or compare it as a string."""
    import re

    sfn = client(emulator_endpoint)
    definition = json.dumps({"StartAt": "Stamp", "States": {"Stamp": {
        "Type": "Pass", "Parameters": {"entered.$": "$$.State.EnteredTime", "name.$": "$$.State.Name"}, "End": True}}})
    arn = sfn.create_state_machine(name="entered", definition=definition,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    try:
        started = sfn.start_execution(stateMachineArn=arn, name="stamp-1", input="{}")
        output = json.loads(finished(sfn, started["executionArn"])["output"])
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)
    assert output["name"] == "Stamp"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", output["entered"]), output


def test_execution_history_pages_orders_and_leaves_out_data_as_the_api_says(emulator_endpoint):
    """sfn-execution-history-pages: maxResults (default 100, at most 1,000) and nextToken page the events,
    reverseOrder answers the newest first (maxResults 1: how the execution ended), includeExecutionData false leaves
    events' input and output out; over boto3 in process and over HTTP alike. moto answered every event, oldest
    first, whatever was asked."""
    chain = {f"S{i}": {"Type": "Pass", "Result": {"i": i}, "Next": f"S{i + 1}"} for i in range(60)}
    chain["S60"] = {"Type": "Succeed"}
    sfn = client(emulator_endpoint)
    machine = sfn.create_state_machine(name="history-pages", definition=json.dumps({"StartAt": "S0", "States": chain}),
                                       roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    try:
        arn = sfn.start_execution(stateMachineArn=machine, input='{"x": 1}')["executionArn"]
        deadline = time.monotonic() + 30
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        everything = sfn.get_execution_history(executionArn=arn, maxResults=1000)
        events = everything["events"]
        assert len(events) == 124 and "nextToken" not in everything  # started, 61 states x 2, succeeded
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        for via_http in (False, True):
            def history(via_http=via_http, **kwargs):
                if via_http:
                    return over_http(emulator_endpoint, lambda c: c.get_execution_history(executionArn=arn, **kwargs))
                return sfn.get_execution_history(executionArn=arn, **kwargs)

            first = history()
            assert first["events"] == events[:100] and first["nextToken"]   # the default page is 100 events
            rest = history(nextToken=first["nextToken"])
            assert rest["events"] == events[100:] and "nextToken" not in rest
            last = history(reverseOrder=True, maxResults=1)
            assert [e["type"] for e in last["events"]] == ["ExecutionSucceeded"] and last["nextToken"]
            paged, token = [], None
            while True:
                page = history(reverseOrder=True, maxResults=7, **({"nextToken": token} if token else {}))
                assert len(page["events"]) <= 7
                paged += page["events"]
                token = page.get("nextToken")
                if token is None:
                    break
            assert paged == events[::-1]
            lean = history(maxResults=1000, includeExecutionData=False)["events"]
            assert len(lean) == len(events)
            details = [v for e in lean for k, v in e.items() if k.endswith("EventDetails")]
            assert details and not any("input" in d or "output" in d for d in details), details[:3]
            assert any("input" in v for e in events for k, v in e.items() if k.endswith("EventDetails"))
            for bad in ({"nextToken": "not-a-token"}, {"nextToken": first["nextToken"], "reverseOrder": True}):
                with pytest.raises(ClientError) as refused:
                    history(**bad)
                assert refused.value.response["Error"]["Code"] == "InvalidToken", bad
            with pytest.raises(ClientError) as refused:
                history(maxResults=1001)
            assert refused.value.response["Error"]["Code"] == "ValidationException"
        pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn,
                                                                     PaginationConfig={"PageSize": 9})
        assert [e for page in pages for e in page["events"]] == events
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)


def test_describe_execution_answers_the_whole_shape_step_functions_gives(emulator_endpoint):
    """DescribeExecution as the API answers it: inputDetails, a stopDate for a TIMED_OUT execution too, and the
    output as Step Functions writes it (compact JSON). moto's had neither and wrote the output with spaces. (The
    traceHeader of a traced start: tests/infra/test_observability.py.)"""
    sfn = client(emulator_endpoint)
    definition = json.dumps({"StartAt": "Pick", "States": {"Pick": {"Type": "Choice", "Choices": [
        {"Variable": "$.wait", "IsPresent": True, "Next": "Slow"}], "Default": "Done"},
        "Slow": {"Type": "Wait", "Seconds": 2, "End": True},
        "Done": {"Type": "Pass", "Result": {"ok": True, "list": [1, 2]}, "End": True}}, "TimeoutSeconds": 1})
    arn = sfn.create_state_machine(name="described", definition=definition,
                                   roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/sfn")["stateMachineArn"]
    try:
        done = sfn.start_execution(stateMachineArn=arn, input='{"a": 1}')["executionArn"]
        slow = sfn.start_execution(stateMachineArn=arn, input='{"wait": 1}')["executionArn"]
        answers = [finished(sfn, done), over_http(emulator_endpoint, lambda c: c.describe_execution(
            executionArn=done))]
        for answer in answers:
            assert answer["status"] == "SUCCEEDED"
            assert answer["output"] == '{"ok":true,"list":[1,2]}'
            assert answer["inputDetails"] == answer["outputDetails"] == {"included": True}
            assert answer["input"] == '{"a": 1}'
        for _ in range(300):
            timed_out = sfn.describe_execution(executionArn=slow)
            if timed_out["status"] != "RUNNING":
                break
            time.sleep(0.01)
        assert timed_out["status"] == "TIMED_OUT", timed_out
        assert timed_out["stopDate"] >= timed_out["startDate"]
        assert timed_out["inputDetails"] == {"included": True} and "output" not in timed_out
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)

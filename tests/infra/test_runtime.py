"""The in-process Lambda runtime on its own (no emulator): Lambda's semantics for handlers sharing one process."""
from __future__ import annotations

import io
import logging
import re
import threading
import time
from pathlib import Path

import pytest

from infra.runtime import FunctionError, FunctionSpec, HandlerConflict, LambdaRuntime, ResourceNotFound, Throttled

HANDLERS = Path(__file__).parent / "fixtures" / "h1" / "handlers"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def spec(name: str, handler: str, **kwargs) -> FunctionSpec:
    return FunctionSpec(name=name, arn=ARN + name, handler=f"h1fixture.basic.{handler}", code_dir=HANDLERS, **kwargs)


@pytest.fixture
def runtime() -> LambdaRuntime:
    rt = LambdaRuntime(aws_endpoint="http://127.0.0.1:1")
    rt.register(spec("echo", "echo", environment={"GREETING": "hi"}))
    rt.register(spec("fail", "fail"))
    rt.register(spec("slow", "slow", timeout=1))
    rt.register(spec("count", "count"))
    rt.register(spec("red", "environment", environment={"COLOR": "red", "GREETING": "from-red"}))
    rt.register(spec("blue", "environment", environment={"COLOR": "blue"}))
    rt.register(spec("context", "describe_context", timeout=7, memory=512))
    rt.register(spec("single", "slow", reserved_concurrency=1))
    rt.register(spec("off", "echo", reserved_concurrency=0))
    rt.register(spec("log", "log"))
    return rt


def test_invoke_returns_the_json_result_of_the_handler(runtime):
    assert runtime.invoke("echo", {"n": 1}) == {"event": {"n": 1}, "greeting": "hi", "function": "echo"}


def test_invoke_by_arn(runtime):
    assert runtime.invoke(ARN + "echo", {})["function"] == "echo"


def test_unknown_function_is_resource_not_found(runtime):
    with pytest.raises(ResourceNotFound, match="nope"):
        runtime.invoke("nope", {})


def test_a_raised_exception_is_a_function_error_with_lambdas_fields(runtime):
    with pytest.raises(FunctionError) as caught:
        runtime.invoke("fail", {"why": "card declined"})
    assert str(caught.value) == "card declined"
    payload = caught.value.payload()
    assert list(payload) == ["errorMessage", "errorType", "requestId", "stackTrace"], payload  # awslambdaric's
    assert payload["errorType"] == "PaymentRequired"
    assert payload["errorMessage"] == "card declined"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", payload["requestId"])
    assert any("raise PaymentRequired" in line for line in payload["stackTrace"])
    assert_lambda_stack_trace(payload["stackTrace"], "basic.py")


def assert_lambda_stack_trace(trace: list[str], handler_file: str) -> None:
    """As Lambda's Python runtime gives it: the handler's frames only (none of the runtime's own), each formatted by
    traceback.format_list, with no "Traceback" header and no exception line."""
    assert trace and all(line.startswith('  File "') for line in trace), trace
    assert trace[0].split('"')[1].endswith(handler_file), trace
    import infra

    emulator = str(Path(infra.__file__).resolve().parent) + "/"
    assert not any(emulator in line for line in trace), trace


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_a_handler_that_cannot_be_loaded_is_the_init_error_lambda_s_python_runtime_reports(kind, tmp_path):
    """awslambdaric's _get_handler: a malformed name, an ImportError, a SyntaxError and a missing function are
    Runtime.* errors with its messages; any other exception at import is reported by its own type and frames."""
    import uuid

    tag = uuid.uuid4().hex[:8]  # the thread kind imports into this process: module names used once
    modules = {f"broken_{tag}": "def handler(event, context:\n    pass\n",
               f"other_{tag}": "def other(event, context):\n    return 1\n",
               f"raising_{tag}": "import os\nSETTING = os.environ['NOT_SET_ANYWHERE']\n"}
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    cases = {
        "nodot": ("Runtime.MalformedHandlerName",
                  "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"),
        f"missing_{tag}.handler": ("Runtime.ImportModuleError",
                                    f"Unable to import module 'missing_{tag}': No module named 'missing_{tag}'"),
        f"broken_{tag}.handler": ("Runtime.UserCodeSyntaxError", f"Syntax error in module 'broken_{tag}': "),
        f"other_{tag}.handler": ("Runtime.HandlerNotFound", f"Handler 'handler' missing on module 'other_{tag}'"),
        f"raising_{tag}.handler": ("KeyError", "'NOT_SET_ANYWHERE'"),
    }
    rt = LambdaRuntime(aws_endpoint="http://127.0.0.1:1", sandboxes=kind)
    try:
        for i, handler in enumerate(cases):
            rt.register(FunctionSpec(name=f"init{i}", arn=f"{ARN}init{i}", handler=handler, code_dir=tmp_path))
        for i, (handler, (error_type, message)) in enumerate(cases.items()):
            with pytest.raises(FunctionError) as caught:
                rt.invoke(f"init{i}", {})
            payload = caught.value.payload()
            assert payload["errorType"] == error_type, (handler, payload)
            assert payload["requestId"] == "", payload  # an init error belongs to no invocation
            assert payload["errorMessage"].startswith(message), (handler, payload)
            if error_type == "Runtime.UserCodeSyntaxError":
                assert payload["stackTrace"][0].startswith(f'  File "{tmp_path / f"broken_{tag}.py"}" Line 1'), payload
            elif error_type == "KeyError":
                assert any(f'raising_{tag}.py", line 2, in <module>' in line for line in payload["stackTrace"]), payload
            else:
                assert payload["stackTrace"] == [], payload
    finally:
        rt.close()


def test_a_missing_handler_module_is_an_import_module_error(runtime):
    runtime.register(FunctionSpec("ghost", ARN + "ghost", "h1fixture.nowhere.handler", HANDLERS))
    with pytest.raises(FunctionError) as caught:
        runtime.invoke("ghost", {})
    assert caught.value.error_type == "Runtime.ImportModuleError"
    assert "h1fixture.nowhere" in str(caught.value)


def test_timeout_answers_like_lambda_after_the_functions_timeout(runtime):
    started = time.monotonic()
    with pytest.raises(FunctionError) as caught:
        runtime.invoke("slow", {"seconds": 3})
    elapsed = time.monotonic() - started
    assert str(caught.value) == "Task timed out after 1.00 seconds"
    assert caught.value.error_type == "Sandbox.Timedout"
    assert 0.9 <= elapsed < 2.5


def test_context_has_lambdas_attributes(runtime):
    ctx = runtime.invoke("context", {})
    assert ctx["function_name"] == "context"
    assert ctx["invoked_function_arn"] == ARN + "context"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == 512
    assert ctx["log_group_name"] == "/aws/lambda/context"
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert 6000 < ctx["remaining"] <= 7000
    assert ctx["aws_request_id"] != runtime.invoke("context", {})["aws_request_id"]


def test_each_function_sees_its_own_environment_even_when_running_at_once(runtime):
    results = {}

    def run(name):
        results[name] = runtime.invoke(name, {"seconds": 0.3})

    threads = [threading.Thread(target=run, args=(n,)) for n in ("red", "blue")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["red"]["color"] == results["red"]["color_after"] == "red"
    assert results["blue"]["color"] == results["blue"]["color_after"] == "blue"
    assert results["red"]["lambda_name"] == "red"
    assert results["red"]["region"] == "us-east-1"
    assert results["red"]["endpoint"] == "http://127.0.0.1:1"


def test_environment_of_a_function_does_not_leak_into_the_process(runtime):
    import os

    runtime.invoke("red", {})
    assert os.environ.get("COLOR") is None
    assert os.environ.get("AWS_LAMBDA_FUNCTION_NAME") is None


def test_module_state_stays_warm_between_invocations(runtime):
    first = runtime.invoke("count", {})["calls"]
    assert runtime.invoke("count", {})["calls"] == first + 1


def test_reserved_concurrency_throttles_without_waiting(runtime):
    holder = threading.Thread(target=runtime.invoke, args=("single", {"seconds": 0.6}))
    holder.start()
    time.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(Throttled):
        runtime.invoke("single", {"seconds": 0})
    # waiting for the holder would take its 0.4 s left; the bound leaves room for a loaded machine's scheduling
    assert time.monotonic() - started < 0.3
    holder.join()
    assert runtime.invoke("single", {"seconds": 0}) == {"slept": 0}
    assert runtime.stats()["single"]["throttles"] == 1


def test_reserved_concurrency_zero_always_throttles(runtime):
    with pytest.raises(Throttled):
        runtime.invoke("off", {})


def test_two_code_dirs_providing_the_same_top_level_module_are_refused(runtime, tmp_path):
    (tmp_path / "h1fixture").mkdir()
    with pytest.raises(HandlerConflict, match="h1fixture"):
        runtime.register(FunctionSpec("other", ARN + "other", "h1fixture.basic.echo", tmp_path))


def test_print_and_logging_are_labelled_with_the_function(runtime, monkeypatch):
    import sys

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    runtime.register(spec("log2", "log"))  # installs the labelling proxy over the current stdout
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    logging.getLogger("h1fixture").addHandler(keep)
    try:
        runtime.invoke("log2", {})
    finally:
        logging.getLogger("h1fixture").removeHandler(keep)
    assert "[log2] printed line" in out.getvalue()
    assert [r.function for r in records] == ["log2"]


def test_a_result_that_is_not_json_is_a_marshal_error(runtime):
    runtime.register(spec("bad-result", "not_json"))
    with pytest.raises(FunctionError) as caught:
        runtime.invoke("bad-result", {})
    assert caught.value.error_type == "Runtime.MarshalError"
    assert "Unable to marshal response" in str(caught.value)


def test_botocore_models_are_parsed_once_for_every_session_of_the_process(runtime):
    # PynamoDB keeps a botocore session per thread; each would parse the same model files again
    import botocore.session

    first = botocore.session.get_session().get_component("data_loader").load_service_model("dynamodb", "service-2")
    second = botocore.session.get_session().get_component("data_loader").load_service_model("dynamodb", "service-2")
    assert first is second


def test_environ_get_answers_what_mapping_get_answers_inside_and_outside_a_function(runtime, monkeypatch):
    """FunctionEnviron.get (without Mapping.get's KeyError per absent variable) against item access."""
    import os
    from collections.abc import Mapping

    from infra.runtime import FunctionEnviron, _current, _Invocation

    assert type(os.environ) is FunctionEnviron
    monkeypatch.setenv("NOTIFYX_PROBE", "process")
    for key in ("NOTIFYX_PROBE", "NOTIFYX_ABSENT", "PATH"):
        assert os.environ.get(key) == Mapping.get(os.environ, key)
        assert os.environ.get(key, "dflt") == Mapping.get(os.environ, key, "dflt")
    token = _current.set(_Invocation("probe", {"NOTIFYX_PROBE": "function", "ONLY_HERE": ""}))
    try:
        assert os.environ.get("NOTIFYX_PROBE") == "function"
        assert os.environ.get("ONLY_HERE", "dflt") == ""
        assert os.environ.get("PATH", "dflt") == "dflt"  # a function sees its own environment only
    finally:
        _current.reset(token)
    assert os.environ.get("NOTIFYX_PROBE") == "process"

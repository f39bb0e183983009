"""Process sandboxes (infra/sandbox.py) behave as Lambda's: one process per concurrent invocation with the
function's own modules and environment, reused warm, stopped on timeout, bounded by reserved concurrency;
their AWS calls reach the emulator of the local cloud's process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.cloud import LocalCloud
from infra.runtime import FunctionError, Throttled

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud(FIXTURES / "sandboxes" / "template.yaml", static_dir=None, sandboxes="process") as cloud:
        yield cloud


def test_a_function_runs_in_its_own_process_with_its_own_environment(cloud):
    answer = cloud.invoke("Probe", {})
    assert answer["pid"] != os.getpid()
    assert answer["greeting"] == "hello from the probe"
    assert answer["function"] == cloud.physical_id("Probe")
    assert 0 < answer["remaining_ms"] <= 3000
    code = str((FIXTURES / "sandboxes" / "app").resolve())
    assert answer["cwd"] == answer["task_root"] == answer["path0"] == code
    assert "GREETING" not in os.environ  # the local cloud's process is untouched


def test_a_sandbox_runs_five_steps_nicer_than_the_local_cloud(cloud):
    pid = cloud.invoke("Probe", {})["pid"]
    assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 5


def test_a_warm_sandbox_keeps_its_module_state_and_a_cold_start_is_reported(cloud):
    first, second = cloud.invoke("Probe", {}), cloud.invoke("Probe", {})
    assert second["pid"] == first["pid"] and second["cold_at"] == first["cold_at"]
    assert second["invocations"] == first["invocations"] + 1
    # the execution environment's log stream, as on Lambda: a new request, the same stream
    assert second["request_id"] != first["request_id"] and second["log_stream"] == first["log_stream"]
    assert first["log_stream"] in {s.log_stream for s in cloud.runtime._lookup(cloud.physical_id("Probe")).pool._idle}
    assert cloud.runtime._lookup(cloud.physical_id("Probe")).init_durations  # Init Duration of the cold start


def test_concurrent_invocations_run_in_separate_sandboxes(cloud):
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: cloud.invoke("Counter", {"hold": 0.4}), range(2)))
    assert answers[0]["pid"] != answers[1]["pid"]


def test_a_timeout_stops_the_handler_and_the_next_invocation_starts_cold(cloud):
    warm = cloud.invoke("Sleeper", {})
    with pytest.raises(FunctionError, match="Task timed out after 1.00 seconds"):
        cloud.invoke("Sleeper", {"seconds": 5})  # the warm sandbox runs it
    assert not _alive(warm["pid"])
    after = cloud.invoke("Sleeper", {})
    assert after["pid"] != warm["pid"] and after["invocations"] == 1


def test_reserved_concurrency_bounds_the_sandboxes(cloud):
    def hold(_: int):
        try:
            return cloud.invoke("Counter", {"hold": 0.5})["pid"]
        except Throttled:
            return "throttled"

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(hold, range(4)))
    assert answers.count("throttled") == 2
    assert len({a for a in answers if a != "throttled"}) == 2
    assert cloud.runtime.sandbox_count(cloud.physical_id("Counter")) == 2


def test_aws_calls_from_a_sandbox_reach_the_emulator_of_the_cloud(cloud):
    assert cloud.invoke("Writer", {"id": "from-a-sandbox"}) == "from-a-sandbox"


def test_a_handler_s_threads_have_calls_in_flight_at_once_and_each_gets_its_own_answers(cloud):
    """The channel carries concurrent calls: 8 threads' 80 DynamoDB calls are answered (each with its own item)
    while a ninth thread's synchronous invoke of a function that sleeps 0.6 s is still waiting."""
    answer = cloud.invoke("Concurrent", {"sleeper": cloud.physical_id("Sleeper"), "seconds": 0.6, "items": 40})
    assert answer == {"answers_right": 40, "written_before_invoke_returned": True}


def test_a_sandbox_that_died_while_idle_is_replaced_by_a_cold_one(cloud):
    """A sandbox given back is looked at when it is taken again: one killed while idle is not invoked."""
    first = cloud.invoke("Probe", {})
    assert cloud.invoke("Probe", {})["pid"] == first["pid"]  # warm
    os.kill(first["pid"], signal.SIGKILL)
    for _ in range(100):
        if not _alive(first["pid"]):
            break
        time.sleep(0.01)
    again = cloud.invoke("Probe", {})
    assert again["pid"] != first["pid"] and again["invocations"] == 1


def test_a_terminal_s_ctrl_c_leaves_sandboxes_to_the_cloud(cloud):
    """Ctrl-C signals the terminal's whole process group: a sandbox ignores it (it printed a KeyboardInterrupt
    traceback and died), and the cloud stops it when the cloud stops."""
    first = cloud.invoke("Probe", {})
    os.kill(first["pid"], signal.SIGINT)
    time.sleep(0.3)
    again = cloud.invoke("Probe", {})
    assert again["pid"] == first["pid"] and _alive(first["pid"])


def test_large_calls_and_results_cross_the_connection_whole(cloud):
    """The cloud reads a sandbox's messages as multiprocessing frames them, taking what has arrived at once: a call
    of ~300 KB (its length and its body written apart) and a result of ~2.4 MB (400,000 "é", escaped in the JSON:
    many reads, within Lambda's 6 MB response) arrive whole, and the next invocation of the same sandbox starts on a
    clean connection."""
    import hashlib

    for n in (400_000, 10):
        answer = cloud.invoke("Big", {"n": n})
        assert answer["stored_right"] is True and answer["result"] == "é" * n
        assert answer["sha256"] == hashlib.sha256(answer["result"].encode()).hexdigest()


def test_a_result_over_lambda_s_6_mb_response_limit_is_the_function_s_error(cloud):
    """Lambda refuses a response over 6,291,556 bytes: the caller gets Function.ResponseSizeTooLarge (an Invoke's
    FunctionError), not the result. One byte under the limit is answered."""
    import hashlib
    import json

    from infra.runtime import MAX_RESPONSE_BYTES

    empty = {"stored_right": True, "result": "", "sha256": hashlib.sha256(b"").hexdigest()}
    fits = (MAX_RESPONSE_BYTES - len(json.dumps(empty))) // 6  # "é" is 6 bytes in the JSON ("\\u00e9")
    assert len(cloud.invoke("Big", {"n": fits})["result"]) == fits
    with pytest.raises(FunctionError) as refused:
        cloud.invoke("Big", {"n": fits + 1})
    assert refused.value.error_type == "Function.ResponseSizeTooLarge"
    assert str(refused.value) == "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    answer = cloud.invoke("Invoker", {"target": cloud.physical_id("Big"), "payload": {"n": fits + 1}})
    assert answer["status"] == 200 and answer["function_error"]
    assert answer["payload"]["errorType"] == "Function.ResponseSizeTooLarge"


@pytest.mark.parametrize("invocation_type, limit, answered", [("RequestResponse", 6_291_456, 200),
                                                            ("Event", 1_048_576, 202)])
def test_an_invoke_over_lambda_s_request_limit_is_refused_with_413(cloud, invocation_type, limit, answered):
    """Lambda refuses an Invoke whose payload is over 6,291,456 bytes (synchronous) or 1 MB (asynchronous) with 413
    RequestEntityTooLargeException, before running anything; at the limit it runs. Over boto3 in this process and
    over HTTP from another alike."""
    import json
    import urllib.error
    import urllib.request

    import boto3
    from botocore.exceptions import ClientError

    from infra.runtime import MAX_REQUEST_BYTES

    assert MAX_REQUEST_BYTES[invocation_type] == limit

    def payload(size: int) -> bytes:
        body = json.dumps({"pad": ""}).encode()
        return json.dumps({"pad": "x" * (size - len(body))}).encode()

    name = cloud.physical_id("Probe")
    lam = boto3.client("lambda", endpoint_url=cloud.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    invocations = cloud.runtime.stats()[name]["invocations"]
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, InvocationType=invocation_type, Payload=payload(limit + 1))
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    signed = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, "
              "Signature=x")
    request = urllib.request.Request(f"{cloud.aws_endpoint}/2015-03-31/functions/{name}/invocations",
                                     data=payload(limit + 1), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": signed,
                                              "X-Amz-Invocation-Type": invocation_type})
    with pytest.raises(urllib.error.HTTPError) as over_http:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310 - the test's own emulator
    assert over_http.value.code == 413
    assert over_http.value.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert f"Request must be smaller than {limit} bytes" in over_http.value.read().decode()
    assert cloud.runtime.stats()[name]["invocations"] == invocations  # nothing ran
    assert lam.invoke(FunctionName=name, InvocationType=invocation_type,
                      Payload=payload(limit))["StatusCode"] == answered
    deadline = time.monotonic() + 30  # an asynchronous one runs after its 202
    while cloud.runtime.stats()[name]["invocations"] == invocations and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cloud.runtime.stats()[name]["invocations"] == invocations + 1


def test_a_sandbox_s_output_reaches_cloudwatch_logs_with_lambda_s_lines(cloud):
    import time

    import boto3

    answer = cloud.invoke("Probe", {})
    logs = boto3.client("logs", endpoint_url=cloud.aws_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    group = f"/aws/lambda/{cloud.physical_id('Probe')}"
    deadline = time.monotonic() + 10
    while True:
        try:
            messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        except logs.exceptions.ResourceNotFoundException:
            messages = []
        if any(answer["request_id"] in m and m.startswith("REPORT") for m in messages) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ours = messages[messages.index(f"START RequestId: {answer['request_id']} Version: $LATEST"):]
    assert ours[1] == f"probe invocation {answer['invocations']}"
    assert ours[2] == f"END RequestId: {answer['request_id']}"
    assert ours[3].startswith(f"REPORT RequestId: {answer['request_id']}\tDuration: ")
    assert "Billed Duration: " in ours[3] and "Memory Size: 128 MB" in ours[3] and "Max Memory Used: " in ours[3]
    assert any("Init Duration: " in m for m in messages if m.startswith("REPORT"))  # the sandbox's cold start


def test_sandboxes_copy_the_fork_servers_launch_without_the_parent_main():
    """infra.sandbox copies popen_forkserver.Popen._launch, leaving out the re-import of the parent's __main__."""
    import inspect
    from multiprocessing import popen_forkserver

    source = inspect.getsource(popen_forkserver.Popen._launch)
    for piece in ("spawn.get_preparation_data(process_obj._name)", "reduction.dump(prep_data, buf)",
                  "forkserver.connect_to_new_process(self._fds)", "self.pid = forkserver.read_signed(self.sentinel)"):
        assert piece in source, piece


def test_a_sandbox_s_clients_use_the_models_its_fork_server_parsed():
    """boto3 and botocore clients made in a sandbox read every botocore file from the fork server's preload; a
    miss re-parses megabytes of JSON on each cold start (boto3's loader has one more search path: another key)."""
    probe = (
        "import boto3, botocore.session\n"
        "from infra import moto_patches, sandbox_bootstrap\n"
        "sandbox_bootstrap.preload()\n"
        "before = set(moto_patches._SHARED_MODELS)\n"
        "for service in sandbox_bootstrap.PRELOAD_MODELS:\n"
        "    boto3.client(service, region_name='us-east-1', endpoint_url='https://example.com/prod')\n"
        "    botocore.session.get_session().create_client(service, region_name='us-east-1')\n"
        "print(sorted(str(k[2]) for k in set(moto_patches._SHARED_MODELS) - before))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_sandbox_compiles_function_code_once_into_the_cache_when_bytecode_is_not_written(tmp_path):
    """Under -B (PYTHONDONTWRITEBYTECODE) a sandbox writes the function's bytecode to the local cloud's cache, not
    beside its sources, and the next cold start reads it from there."""
    probe = (
        "import sys\n"
        "from infra.cloud import LocalCloud\n"
        f"with LocalCloud({str(FIXTURES / 'sandboxes' / 'template.yaml')!r}, static_dir=None,\n"
        "                sandboxes='process') as cloud:\n"
        "    print(cloud.invoke('Probe', {})['greeting'])\n")
    env = {**os.environ, "NOTIFYX_CACHE_DIR": str(tmp_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-B", "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[2], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("hello from the probe")
    code = (FIXTURES / "sandboxes" / "app").resolve()
    assert list((tmp_path / "pycache").glob(f"{str(code).lstrip('/')}/probe.*.pyc"))
    assert not (code / "__pycache__").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True



def test_lambda_invoke_from_a_sandbox_answers_as_lambda_does(cloud, monkeypatch):
    from infra import runtime

    answered = []
    original = runtime._answer_invoke
    monkeypatch.setattr(runtime, "_answer_invoke", lambda request: answered.append(type(request)) or
                        original(request))
    probe = cloud.physical_id("Probe")
    answer = cloud.invoke("Invoker", {"target": probe, "payload": {"x": 1}})
    assert answer["status"] == 200 and answer["function_error"] is None
    assert answer["payload"]["function"] == probe and answer["payload"]["greeting"] == "hello from the probe"
    failed = cloud.invoke("Invoker", {"target": cloud.physical_id("Failing")})
    assert failed["status"] == 200 and failed["function_error"] == "Unhandled"
    assert failed["payload"]["errorType"] == "ValueError" and failed["payload"]["errorMessage"] == "failing on purpose"
    from test_runtime import assert_lambda_stack_trace

    assert_lambda_stack_trace(failed["payload"]["stackTrace"], "probe.py")
    assert cloud.invoke("Invoker", {"target": "no-such-function"}) == {"error": "ResourceNotFoundException",
                                                                        "status": 404}
    queued = cloud.invoke("Invoker", {"target": probe, "type": "Event"})
    assert queued["status"] == 202 and queued["payload"] is None
    # answered at before-call (no SigV4, no HTTP request rebuilt in this process)
    assert answered == [runtime._CallRequest] * 4

"""Benchmark: `notifyx up` to ready, and the cost of a warm invoke through each path versus a direct call."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "infra" / "fixtures" / "h1"
RESULTS = Path(__file__).parent / "results" / "startup_and_invoke.json"

pytestmark = pytest.mark.bench
figures: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_avg_1m_at_start": os.getloadavg()[0]}}


def _write() -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


def test_notifyx_up_until_endpoints_are_ready(tmp_path):
    """Wall time from starting `notifyx up` (real template.yaml) to .notifyx/endpoints.json (all answering)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "up", "--template", str(ROOT / "template.yaml"), "--http-port", "0",
         "--ws-port", "0", "--aws-port", "0", "--static-dir", str(ROOT / "client" / "web")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    endpoints = tmp_path / ".notifyx" / "endpoints.json"
    try:
        while not endpoints.exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.perf_counter() - started < 240, "notifyx up did not become ready"
            time.sleep(0.05)
        ready = time.perf_counter() - started
        stopping = time.perf_counter()
        process.send_signal(2)
        process.communicate(timeout=60)
        stopped = time.perf_counter() - stopping
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    figures["notifyx_up"] = {"ready_seconds": round(ready, 2), "sigint_to_exit_seconds": round(stopped, 2),
                             "load_avg_1m_after": os.getloadavg()[0]}
    print(f"\nnotifyx up -> endpoints ready: {ready:.2f} s; SIGINT -> exit: {stopped:.2f} s")
    _write()
    assert process.returncode == 0


def _per_call(fn, n: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t) / n)
    return statistics.median(samples)


def test_warm_invoke_overhead_against_a_direct_call():
    """Per-call time of the same warm handler: direct Python call, runtime.invoke, boto3 invoke (in-process, HTTP)."""
    from infra import runtime as lambda_runtime
    from infra.cloud import LocalCloud

    with LocalCloud(FIXTURES / "basic.yaml", static_dir=None) as cloud:
        event = {"message": "hello", "topic": "news", "n": 1}
        spec = cloud.runtime.spec("notifyx-Echo")
        sys.path.insert(0, str(spec.code_dir))
        from h1fixture.basic import echo

        class Context:
            function_name = "direct"

        direct = _per_call(lambda: echo(event, Context()), 2000)
        runtime = _per_call(lambda: cloud.runtime.invoke("notifyx-Echo", event), 300)
        lam = boto3.client("lambda", endpoint_url=cloud.aws_endpoint, region_name="us-east-1",
                           aws_access_key_id="t", aws_secret_access_key="t")
        payload = json.dumps(event).encode()
        in_process = _per_call(lambda: lam.invoke(FunctionName="notifyx-Echo", Payload=payload)["Payload"].read(), 100)
        lambda_runtime.disable_fast_invoke()
        try:
            over_http = _per_call(lambda: lam.invoke(FunctionName="notifyx-Echo", Payload=payload)["Payload"].read(),
                                  50)
        finally:
            lambda_runtime.enable_fast_invoke(cloud.aws_endpoint)

    figures["warm_invoke"] = {
        "direct_call_us": round(direct * 1e6, 1),
        "runtime_invoke_us": round(runtime * 1e6, 1),
        "boto3_invoke_in_process_us": round(in_process * 1e6, 1),
        "boto3_invoke_http_us": round(over_http * 1e6, 1),
        "ratio_runtime_over_direct": round(runtime / direct, 1),
        "ratio_boto3_in_process_over_direct": round(in_process / direct, 1),
        "ratio_boto3_http_over_direct": round(over_http / direct, 1),
        "load_avg_1m_after": os.getloadavg()[0],
    }
    for key, value in figures["warm_invoke"].items():
        print(f"{key}: {value}")
    _write()
    assert direct < runtime < over_http

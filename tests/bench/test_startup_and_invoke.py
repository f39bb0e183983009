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
from conftest import RESULTS as bench_results

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "infra" / "fixtures" / "h1"
RESULTS = bench_results / "startup_and_invoke.json"

pytestmark = pytest.mark.bench
figures: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_avg_1m_at_start": os.getloadavg()[0]}}


def _write() -> None:
    """This run's figures over the file's (a test run alone leaves the others' figures as they were)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        kept = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        kept = {}
    RESULTS.write_text(json.dumps({**kept, **figures}, indent=2) + "\n")


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


# one cold start of each function of template.yaml in its sandbox: prints the Init Durations the runtime recorded
COLD_STARTS = """
import json, sys
from infra.cloud import LocalCloud
with LocalCloud(sys.argv[1], static_dir=None, sandboxes="process") as cloud:
    durations = {}
    for name in list(cloud.runtime._functions):
        try:
            cloud.runtime.invoke(name, {})
        except Exception:  # an empty event is a bad request to most handlers: only the import is measured
            pass
        fn = cloud.runtime._lookup(name)
        durations[name] = round(fn.init_durations[0], 1) if fn.init_durations else None
print(json.dumps(durations))
"""


def _cold_starts(cache: str) -> dict[str, float]:
    """Init Durations under -B (bytecode not written beside the sources), with NOTIFYX_CACHE_DIR=`cache`."""
    out = subprocess.run([sys.executable, "-B", "-c", COLD_STARTS, str(ROOT / "template.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "NOTIFYX_CACHE_DIR": cache})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cold_starts_with_and_without_the_bytecode_cache(tmp_path):
    """Init Duration of every function's first invocation: compiled at each cold start (the cache off, as on
    Lambda for a package without __pycache__) against compiled code read from the local cloud's cache."""
    uncached = _cold_starts("off")
    _cold_starts(str(tmp_path))  # fills the cache
    cached = _cold_starts(str(tmp_path))
    assert set(uncached) == set(cached) and all(v is not None for v in cached.values())
    total_uncached, total_cached = sum(uncached.values()), sum(cached.values())
    figures["cold_starts"] = {"functions": len(cached), "init_ms_total_without_cache": round(total_uncached, 1),
                              "init_ms_total_with_cache": round(total_cached, 1),
                              "ratio_cached_over_uncached": round(total_cached / total_uncached, 3),
                              "per_function_with_cache": cached, "load_avg_1m_after": os.getloadavg()[0]}
    print(f"\ncold starts of {len(cached)} functions: Init Duration {total_uncached:.0f} ms in all compiling at each "
          f"cold start, {total_cached:.0f} ms from the bytecode cache (x{total_cached / total_uncached:.2f})")
    _write()

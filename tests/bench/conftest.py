"""Benchmark fixtures: the local cloud in its own process (as `notifyx up` runs it), so that the clients
measuring it do not share its interpreter, and a raised file-descriptor limit for thousands of sockets.

The cloud process writes its RSS and garbage-collection pauses (timed with gc.callbacks, from the end of
start-up; the local cloud's idle-time full collections, see infra/collector.py, are listed apart) to a stats file
four times a second; `cloud_process["stats_file"]` names it."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# make bench writes here (the README's figures); make test's shortened runs write to NOTIFYX_BENCH_RESULTS instead
RESULTS = Path(os.environ.get("NOTIFYX_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")

# the cloud process: start, publish the endpoints, serve until the test closes our stdin
CLOUD_PROCESS = """
import gc, json, logging, os, sys, threading, time
logging.basicConfig(level=logging.WARNING)
pauses = {"max_ms": 0.0, "over_20_ms": 0, "collections": 0, "idle_reclaims_ms": [],
          "max_cpu_ms": 0.0, "longest": None, "most_cpu": None, "long": []}
started = [0.0, 0.0]
keeper = [None]  # the cloud's GarbageKeeper: its idle-time full collections are counted apart
def track(phase, info):
    if phase == "start":
        started[0], started[1] = time.perf_counter(), time.thread_time()
    else:
        ms = (time.perf_counter() - started[0]) * 1000
        cpu_ms = (time.thread_time() - started[1]) * 1000  # the collector's own CPU: wall time less preemption
        if keeper[0] is not None and keeper[0].reclaiming:
            pauses["idle_reclaims_ms"].append(round(ms, 1))
            return
        pauses["collections"] += 1
        if ms > pauses["max_ms"]:
            pauses["longest"] = {"ms": round(ms, 1), "cpu_ms": round(cpu_ms, 1), "generation": info["generation"],
                                 "collected": info["collected"]}
        pauses["max_ms"] = max(pauses["max_ms"], ms)
        if cpu_ms > pauses["max_cpu_ms"]:  # which collection that was, for whoever looks into it next
            pauses["most_cpu"] = {"ms": round(ms, 1), "cpu_ms": round(cpu_ms, 1), "generation": info["generation"],
                                  "collected": info["collected"]}
        pauses["max_cpu_ms"] = max(pauses["max_cpu_ms"], cpu_ms)
        pauses["over_20_ms"] += ms > 20
        if ms > 20 and len(pauses["long"]) < 200:  # when (epoch s), for the bench to say which phase had them
            pauses["long"].append({"at": round(time.time(), 3), "ms": round(ms, 1), "cpu_ms": round(cpu_ms, 1),
                                   "generation": info["generation"]})
gc.callbacks.append(track)
def report():
    while True:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        with open(sys.argv[3] + ".tmp", "w") as out:
            json.dump({"rss_mb": round(rss, 1), "gc": pauses}, out)
        os.replace(sys.argv[3] + ".tmp", sys.argv[3])
        time.sleep(0.25)
from infra.cloud import LocalCloud
# the benches' sign-ups are set-up, not measured: passwords hash at the template's lowest cost (~3 ms, not ~50)
parameters = {"PasswordHashCost": "10", **(json.loads(sys.argv[4]) if len(sys.argv) > 4 else {})}
cloud = LocalCloud(sys.argv[1], parameters=parameters).start()
keeper[0] = cloud.garbage_keeper
# start-up's own collections are reported apart from the serving's
pauses.update(startup_max_ms=round(pauses["max_ms"], 1), max_ms=0.0, over_20_ms=0, collections=0, max_cpu_ms=0.0,
              longest=None, most_cpu=None, long=[])
threading.Thread(target=report, daemon=True).start()
try:
    with open(sys.argv[2] + ".tmp", "w") as out:
        json.dump(cloud.endpoints, out)
    import os
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    sys.stdin.read()
finally:
    cloud.stop()
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/bench" in str(item.fspath):
            item.add_marker(pytest.mark.bench)


@pytest.fixture(scope="session", autouse=True)
def many_file_descriptors():
    """Thousands of sockets need more than the usual soft limit of 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="session")
def cloud_process(tmp_path_factory, many_file_descriptors):
    """The endpoints of a LocalCloud of template.yaml running in a child process."""
    with running_cloud(tmp_path_factory.mktemp("bench"), many_file_descriptors) as endpoints:
        yield endpoints


@contextlib.contextmanager
def running_cloud(directory: Path, nofile: int, parameters: dict[str, str] | None = None):
    """A LocalCloud of template.yaml (with these template parameters) in a child process: its endpoints."""
    endpoints = directory / "endpoints.json"
    stats = endpoints.with_name("stats.json")
    child = subprocess.Popen([sys.executable, "-c", CLOUD_PROCESS, str(ROOT / "template.yaml"), str(endpoints),
                              str(stats), json.dumps(parameters or {})],
                             cwd=ROOT, stdin=subprocess.PIPE, preexec_fn=_inherit_nofile(nofile))
    try:
        deadline = time.monotonic() + 120
        while not endpoints.exists():
            if child.poll() is not None:
                pytest.fail(f"the local cloud exited with {child.returncode} before it was up")
            if time.monotonic() > deadline:
                pytest.fail("the local cloud was not up within 120 s")
            time.sleep(0.1)
        yield {**json.loads(endpoints.read_text()), "stats_file": str(stats), "pid": child.pid}
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def cloud_stats(endpoints: dict) -> dict:
    """The cloud process's RSS (MB) and GC pauses so far (written by running_cloud's cloud four times a second)."""
    return json.loads(Path(endpoints["stats_file"]).read_text())


def _inherit_nofile(limit: int):
    def raise_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return raise_limit


@pytest.fixture(scope="session")
def results_dir() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS


def pytest_terminal_summary(terminalreporter) -> None:
    """Under `make test` (the Makefile sets NOTIFYX_MAKE_TEST_STARTED when it starts): the whole run's time, from
    its start, install included, to the end of the benchmarks, its last step. Printed, and written to
    make_test.json."""
    started = os.environ.get("NOTIFYX_MAKE_TEST_STARTED")
    if not started:
        return
    seconds = round(time.time() - float(started))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "make_test.json").write_text(json.dumps({
        "benchmark": "make_test", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "seconds": seconds}, indent=2) + "\n")
    terminalreporter.write_line(f"make test: {seconds // 60} min {seconds % 60} s from its start to the end of "
                                "the benchmarks")

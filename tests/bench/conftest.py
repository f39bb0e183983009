"""Benchmark fixtures: the local cloud in its own process (as `notifyx up` runs it), so that the clients
measuring it do not share its interpreter, and a raised file-descriptor limit for thousands of sockets."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"

# the cloud process: start, publish the endpoints, serve until the test closes our stdin
CLOUD_PROCESS = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING)
from infra.cloud import LocalCloud
cloud = LocalCloud(sys.argv[1]).start()
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
    endpoints = tmp_path_factory.mktemp("bench") / "endpoints.json"
    child = subprocess.Popen([sys.executable, "-c", CLOUD_PROCESS, str(ROOT / "template.yaml"), str(endpoints)],
                             cwd=ROOT, stdin=subprocess.PIPE, preexec_fn=_inherit_nofile(many_file_descriptors))
    try:
        deadline = time.monotonic() + 120
        while not endpoints.exists():
            if child.poll() is not None:
                pytest.fail(f"the local cloud exited with {child.returncode} before it was up")
            if time.monotonic() > deadline:
                pytest.fail("the local cloud was not up within 120 s")
            time.sleep(0.1)
        yield json.loads(endpoints.read_text())
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _inherit_nofile(limit: int):
    def raise_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return raise_limit


@pytest.fixture(scope="session")
def results_dir() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS

"""core.breakers across processes, as two Lambda sandboxes run it: each its own interpreter and pybreaker, nothing
shared but the BreakersTable on the emulator. One sandbox's failures open the breaker; the other refuses at its
very next call, without making it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3

from infra.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]

SANDBOX = """
import json, sys
import pybreaker
from core import breakers

shared = breakers.breaker("persist/persist-1", exclude=[])
called, outcomes = [], []
def remote():
    called.append(1)
    if sys.argv[1] == "fail":
        raise OSError("connection refused")
    return "answer"
for _ in range(int(sys.argv[2])):
    try:
        outcomes.append(breakers.guarded(shared, remote))
    except pybreaker.CircuitBreakerError:
        outcomes.append("refused")
    except OSError:
        outcomes.append("failed")
print(json.dumps({"called": len(called), "outcomes": outcomes, "state": shared.current_state}))
"""


def sandbox(endpoint: str, mode: str, calls: int) -> dict:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "PYTHONPATH": str(ROOT / "functions"), "BREAKERS_TABLE": "breakers", "BREAKER_FAILURE_THRESHOLD": "3",
           "BREAKER_WINDOW_SECONDS": "30", "BREAKER_RESET_SECONDS": "60", "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", SANDBOX, mode, str(calls)], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_breaker_opened_in_one_sandbox_refuses_in_another_at_once():
    emulator = Emulator(0).start()
    try:
        boto3.client("dynamodb", endpoint_url=emulator.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_table(
            TableName="breakers", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}])
        healthy = sandbox(emulator.endpoint, "ok", 2)
        assert healthy == {"called": 2, "outcomes": ["answer", "answer"], "state": "closed"}
        failing = sandbox(emulator.endpoint, "fail", 5)
        assert failing["called"] == 3 and failing["state"] == "open"
        assert failing["outcomes"] == ["failed", "failed", "refused", "refused", "refused"]  # the 3rd opened it
        other = sandbox(emulator.endpoint, "ok", 1)  # a fresh interpreter: it never saw a failure
        assert other == {"called": 0, "outcomes": ["refused"], "state": "open"}
    finally:
        emulator.stop()

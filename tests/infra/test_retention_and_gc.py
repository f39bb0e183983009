"""What the local cloud keeps while it serves is bounded (Lambda's log events per log group), and its
garbage-collection policy (infra/collector.py) keeps long-lived data out of the collector's passes without
leaking cycles: they are reclaimed once the cloud is idle."""
from __future__ import annotations

import gc
import time
import weakref

import boto3
from moto import mock_aws

from infra import emulator
from infra.collector import GarbageKeeper


def test_lambda_log_groups_keep_the_newest_events_up_to_the_bound(monkeypatch):
    monkeypatch.setattr(emulator, "LOG_RETENTION_EVENTS", 100)
    now = int(time.time() * 1000)
    with mock_aws():
        for batch in range(30):
            stream = f"2026/12/01/[$LATEST]{batch % 3}"
            emulator.write_logs("/aws/lambda/fn", stream, [
                {"timestamp": now - 1000 + batch * 10 + i, "message": f"line {batch}.{i}"} for i in range(10)])
        logs = boto3.client("logs", region_name="us-east-1")
        events = []
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName="/aws/lambda/fn"):
            events += page["events"]
        assert 90 <= len(events) <= 100
        messages = {e["message"] for e in events}
        assert "line 29.9" in messages and "line 0.0" not in messages  # the oldest went first
        assert len(logs.describe_log_streams(logGroupName="/aws/lambda/fn")["logStreams"]) == 3


def test_lambda_log_groups_are_created_on_first_write():
    now = int(time.time() * 1000)
    with mock_aws():
        emulator.write_logs("/aws/lambda/new", "s", [{"timestamp": now, "message": "hello"}])
        emulator.write_logs("/aws/lambda/new", "s", [{"timestamp": now + 1, "message": "again"}])
        logs = boto3.client("logs", region_name="us-east-1")
        got = logs.get_log_events(logGroupName="/aws/lambda/new", logStreamName="s", startFromHead=True)
        assert [e["message"] for e in got["events"]] == ["hello", "again"]


class _Node:
    def __init__(self) -> None:
        self.other = self


class FastKeeper(GarbageKeeper):
    FREEZE_SECONDS = 0.05
    IDLE_SECONDS = 0.2
    RECLAIM_AFTER = 1


def test_survivors_are_frozen_and_idle_time_reclaims_frozen_cycles():
    activity = [0]
    keeper = FastKeeper(lambda: activity[0]).start()
    try:
        cycle = _Node()
        collected = []
        ref = weakref.ref(cycle, lambda _: collected.append(True))
        def busy(seconds: float) -> None:  # invocations keep coming: no idle-time collection
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                activity[0] += 1
                time.sleep(0.01)

        busy(0.2)
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()  # an automatic pass would not see it either: it is frozen
        busy(0.1)
        assert ref() is not None and not collected
        deadline = time.monotonic() + 5
        while not (collected and keeper.reclaimed) and time.monotonic() < deadline:  # idle now: reclaimed
            time.sleep(0.05)
        assert collected and ref() is None and keeper.reclaimed >= 1
    finally:
        keeper.stop()
        gc.unfreeze()

"""Benchmark: what a send and a receive cost on a deep SQS queue against a shallow one, in the same run.

moto scanned a queue several times per call, reading the clock per message (at 500 messages ~100 ms a send,
~700 ms a receive of 10); the local cloud's patches (sqs-clock-*, sqs-queue-scan-*,
sqs-retention-check-reads-the-retention) make it one scan per call. docs/local-cloud.md quotes these figures.
The emulator in this process, answering boto3 in process as it does for the functions. Writes
results/sqs_depth.json.

NOTIFYX_SQS_DEPTH (default 5,000) is the deep queue's backlog; the shallow one holds 20.
"""
from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime

from infra import account
from infra import emulator as emulator_module
from infra.emulator import Emulator

DEPTH = int(os.environ.get("NOTIFYX_SQS_DEPTH", "5000"))
SENDS, RECEIVES = 50, 20


def measure(sqs, name: str, depth: int) -> dict:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    started = time.perf_counter()
    for start in range(0, depth, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"}
                                                      for i in range(min(10, depth - start))])
    filled = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(SENDS):
        sqs.send_message(QueueUrl=url, MessageBody=f"more {n}")
    send_ms = (time.perf_counter() - started) * 1000 / SENDS
    started = time.perf_counter()
    taken = 0
    for _ in range(RECEIVES):
        taken += len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"])
    receive_ms = (time.perf_counter() - started) * 1000 / RECEIVES
    assert taken == RECEIVES * 10
    return {"depth": depth, "fill_seconds": round(filled, 2), "send_ms": round(send_ms, 3),
            "receive_10_ms": round(receive_ms, 3)}


def test_a_deep_queue_against_a_shallow_one(results_dir):
    emulator = Emulator(port=0).start()
    emulator_module.serve_in_process(emulator.endpoint)
    try:
        sqs = account.client("sqs", emulator.endpoint)
        shallow = measure(sqs, "shallow", 20 + RECEIVES * 10)
        deep = measure(sqs, "deep", DEPTH)
    finally:
        emulator_module.stop_serving_in_process()
        emulator.stop()
    result = {"benchmark": "sqs_depth", "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "shallow": shallow, "deep": deep,
              "send_ratio_deep_to_shallow": round(deep["send_ms"] / shallow["send_ms"], 2),
              "receive_ratio_deep_to_shallow": round(deep["receive_10_ms"] / shallow["receive_10_ms"], 2)}
    (results_dir / "sqs_depth.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nSQS, a queue of {deep['depth']} messages against one of {shallow['depth']}: send {deep['send_ms']} ms "
          f"against {shallow['send_ms']} ms (x{result['send_ratio_deep_to_shallow']}), receive of 10 "
          f"{deep['receive_10_ms']} ms against {shallow['receive_10_ms']} ms "
          f"(x{result['receive_ratio_deep_to_shallow']}); filling the deep one took {deep['fill_seconds']} s")

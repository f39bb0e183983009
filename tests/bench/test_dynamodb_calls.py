"""Benchmark: the AWS calls one publish makes, counted where the local cloud answers them (the emulator's direct
paths: DynamoDB item calls, Step Functions StartExecution / DescribeExecution), per operation and per publish.
docs/internals.md quotes the figure; this is where it comes from. Writes results/dynamodb_calls.json.

A local cloud in this process (its calls are counted by wrapping DirectCalls.__call__, the one entry of those
paths), one publisher on its own topic with two subscribers, as in the publish bench."""
from __future__ import annotations

import asyncio
import collections
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from publish_load import run_load, sign_up

from infra import emulator
from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
PUBLISHES = int(os.environ.get("NOTIFYX_CALLS_PUBLISHES", "20"))


def test_calls_per_publish(results_dir, monkeypatch):
    counts: collections.Counter = collections.Counter()
    counting = [False]
    answer = emulator.DirectCalls.__call__

    def counted(self, model, params, context=None, **kwargs):
        if counting[0] and model.name in self.OPERATIONS:
            counts[model.name] += 1
        return answer(self, model, params, context, **kwargs)

    monkeypatch.setattr(emulator.DirectCalls, "__call__", counted)
    with LocalCloud(TEMPLATE, static_dir=None) as cloud:
        users = sign_up(cloud.endpoints["http_api"], 3)
        asyncio.run(run_load(cloud.endpoints, users, 1, 1, 2))  # subscriptions made, sandboxes warm
        counting[0] = True
        result = asyncio.run(run_load(cloud.endpoints, users, 1, 1e9, 2, publishes_each=PUBLISHES,
                                      warmup_publishes=0))
        counting[0] = False
    assert result.committed == PUBLISHES, result.figures()
    per_publish = {name: round(n / result.committed, 2) for name, n in counts.most_common()}
    total = round(sum(counts.values()) / result.committed, 2)
    figures = {"benchmark": "dynamodb_calls", "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "publishes": result.committed, "calls_per_publish": total, "by_operation": per_publish}
    (results_dir / "dynamodb_calls.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nAWS calls per publish (DynamoDB item calls, StartExecution, DescribeExecution), over "
          f"{result.committed} publishes: {total}: {per_publish}")
    assert counts["GetItem"] and counts["UpdateItem"] and counts["StartExecution"] == result.committed

"""Benchmark: the AWS calls one publish makes, counted where the local cloud answers them (the emulator's direct
paths: DynamoDB item calls, Step Functions StartExecution / DescribeExecution), per operation and per publish, one
publisher in flight and then ten.
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
#: publishers in flight for the count under load, and its seconds (executions run longer: more polls each)
LOADED = 10
LOADED_SECONDS = float(os.environ.get("NOTIFYX_CALLS_LOADED_SECONDS", "5"))


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
        users = sign_up(cloud.endpoints["http_api"], 3 * LOADED)
        asyncio.run(run_load(cloud.endpoints, users, 1, 1, 2))  # subscriptions made, sandboxes warm
        counting[0] = True
        result = asyncio.run(run_load(cloud.endpoints, users, 1, 1e9, 2, publishes_each=PUBLISHES,
                                      warmup_publishes=0))
        counting[0] = False
        single = collections.Counter(counts)
        # and under load: the polls for an execution's end depend on how long executions run
        counts.clear()

        def window(mark: str) -> None:  # the timed publishes alone, not the sockets' $connect and $disconnect
            counting[0] = mark == "start"

        loaded = asyncio.run(run_load(cloud.endpoints, users, LOADED, LOADED_SECONDS, 2, window=window))
    assert result.committed == PUBLISHES, result.figures()
    per_publish = {name: round(n / result.committed, 2) for name, n in single.most_common()}
    total = round(sum(single.values()) / result.committed, 2)
    under_load = {name: round(n / loaded.committed, 2) for name, n in counts.most_common()}
    figures = {"benchmark": "dynamodb_calls", "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "publishes": result.committed, "calls_per_publish": total, "by_operation": per_publish,
               f"{LOADED}_in_flight": {"publishes": loaded.committed, "seconds": loaded.seconds,
                                       "calls_per_publish": round(sum(counts.values()) / loaded.committed, 2),
                                       "by_operation": under_load}}
    (results_dir / "dynamodb_calls.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nAWS calls per publish (DynamoDB item calls, StartExecution, DescribeExecution), over "
          f"{result.committed} publishes: {total}: {per_publish}; at {LOADED} in flight over {loaded.committed} "
          f"publishes: {figures[f'{LOADED}_in_flight']['calls_per_publish']}: {under_load}")
    assert single["GetItem"] and single["UpdateItem"] and single["StartExecution"] == result.committed
    assert loaded.committed > 0 and loaded.failed == 0 and counts["StartExecution"] >= loaded.committed

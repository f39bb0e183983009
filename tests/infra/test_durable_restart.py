"""Lambda durable executions in a state directory (notifyx up's): kept in it (the library's SQLite store) and
going on after a restart of the local cloud (fixtures/apps/durable_orders). Its own module: it starts and stops
clouds of its own, which the app module's shared cloud would refuse (one LocalCloud per process at a time)."""
from __future__ import annotations

import json

from racing import wait_for
from test_app_durable_orders import TEMPLATE, start


def test_with_a_state_directory_a_waiting_execution_goes_on_after_a_restart(tmp_path):
    """notifyx up keeps durable executions in its state directory: one suspended on a wait when the cloud stops
    is invoked again after the restart, replays its checkpointed step and ends; a finished one is still there."""
    from infra.cloud import LocalCloud

    cloud = LocalCloud(TEMPLATE, static_dir=None, state_dir=tmp_path / "state").start()
    try:
        done = start(cloud, {"order": "kept", "wait": 0})["DurableExecutionArn"]
        waiting = start(cloud, {"order": "waits", "wait": 4}, InvocationType="Event")["DurableExecutionArn"]
        lambda_ = cloud.client("lambda")
        wait_for(lambda: any(e["EventType"] == "WaitStarted" for e in lambda_.get_durable_execution_history(
            DurableExecutionArn=waiting)["Events"]), 30)
    finally:
        cloud.stop()
    cloud = LocalCloud(TEMPLATE, static_dir=None, state_dir=tmp_path / "state").start()
    try:
        lambda_ = cloud.client("lambda")
        assert lambda_.get_durable_execution(DurableExecutionArn=done)["Status"] == "SUCCEEDED"
        assert lambda_.get_durable_execution(DurableExecutionArn=waiting)["Status"] == "RUNNING"
        wait_for(lambda: lambda_.get_durable_execution(DurableExecutionArn=waiting)["Status"] == "SUCCEEDED", 30)
        result = json.loads(lambda_.get_durable_execution(DurableExecutionArn=waiting)["Result"])
        assert result["order"] == "waits" and result["charged"]["charged"] == "waits"
        history = lambda_.get_durable_execution_history(DurableExecutionArn=waiting)["Events"]
        kinds = [e["EventType"] for e in history]
        assert kinds.count("StepStarted") == 2 and "WaitSucceeded" in kinds, kinds  # the reservation ran once
    finally:
        cloud.stop()

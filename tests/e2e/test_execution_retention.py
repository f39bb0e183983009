"""The bounded history of finished Step Functions executions (NOTIFYX_EXECUTION_RETENTION, 1,000 per state machine
by default; docs/internals.md "Bounded history"), through a real `notifyx up` with the variable set to 5: the
oldest finished executions answer ExecutionDoesNotExist (as after AWS's retention), the newest are described,
a running one is never forgotten, and a restart on the same state, after `kill -9` or a clean stop, keeps what
the running cloud kept (the one that was running comes back ABORTED).
"""
from __future__ import annotations

import time

import pytest
from up_process import ROOT, UpProcess

pytestmark = pytest.mark.timeout(120)

TEMPLATE = ROOT / "tests" / "infra" / "fixtures" / "apps" / "execution_retention" / "template.yaml"
RETENTION = 5
QUICK = 8  # finished executions started after the held one: 4 of them fall out of the history


def _machine(sfn) -> str:
    return next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if "Flow" in m["name"])


def _execution(machine: str, name: str) -> str:
    return machine.replace(":stateMachine:", ":execution:") + ":" + name


def _status(sfn, machine: str, name: str) -> str:
    """The execution's status, or "gone" when it answers ExecutionDoesNotExist."""
    try:
        return sfn.describe_execution(executionArn=_execution(machine, name))["status"]
    except sfn.exceptions.ExecutionDoesNotExist:
        return "gone"


def _listed(sfn, machine: str) -> dict[str, str]:
    return {e["name"]: e["status"] for e in sfn.list_executions(stateMachineArn=machine, maxResults=100)["executions"]}


def test_finished_executions_beyond_the_retention_are_gone_and_restarts_keep_the_bound(tmp_path):
    cloud = UpProcess(tmp_path, "--template", str(TEMPLATE), env={"NOTIFYX_EXECUTION_RETENTION": str(RETENTION)})
    quick = [f"q{i}" for i in range(QUICK)]
    kept, gone = quick[-(RETENTION - 1):], quick[:-(RETENTION - 1)]  # the held one takes the fifth place
    try:
        cloud.start()
        sfn = cloud.aws("stepfunctions")
        machine = _machine(sfn)
        sfn.start_execution(stateMachineArn=machine, name="held", input='{"hold": true}')
        for name in quick:
            sfn.start_execution(stateMachineArn=machine, name=name, input="{}")
            deadline = time.monotonic() + 10
            while _status(sfn, machine, name) == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.02)

        def check(held: str) -> None:
            assert {name: _status(sfn, machine, name) for name in gone} == dict.fromkeys(gone, "gone")
            assert {name: _status(sfn, machine, name) for name in kept} == dict.fromkeys(kept, "SUCCEEDED")
            assert _status(sfn, machine, "held") == held  # a running execution is never forgotten
            assert _listed(sfn, machine) == {**dict.fromkeys(kept, "SUCCEEDED"), "held": held}
            with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):  # its name is taken still
                sfn.start_execution(stateMachineArn=machine, name=kept[0], input='{"other": 1}')

        check("RUNNING")
        cloud.kill()  # the held execution dies with the process
        cloud.start()
        sfn = cloud.aws("stepfunctions")
        check("ABORTED")
        cloud.stop()  # a clean stop: the final snapshot holds what the cloud held
        cloud.start()
        sfn = cloud.aws("stepfunctions")
        check("ABORTED")
        # the restored executions count: the next start forgets the oldest finished one (the aborted one)
        sfn.start_execution(stateMachineArn=machine, name="after", input="{}")
        assert _status(sfn, machine, "held") == "gone"
        assert set(_listed(sfn, machine)) == {*kept, "after"}
    finally:
        cloud.stop()

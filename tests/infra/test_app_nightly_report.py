"""Parity: schedule rules fire every kind of target (fixtures/apps/nightly_report): SAM's Schedule event on a state
machine starts an execution with the event's Input, a rule's queue target gets its InputTransformer's JSON (a string
variable outside quotes quoted) and another its text template's text (with the predefined rule name), and a
function target gets the scheduled event. Before, a schedule fired only Lambda targets (the state machine and the
queues got nothing, silently), a rule's several targets were one schedule (only the last fired), and moto's
InputTransformer failed both templates (invalid JSON; a text template refused).
"""
from __future__ import annotations

import json
from pathlib import Path


from racing import drain, wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "nightly_report" / "template.yaml"


def test_a_schedule_on_a_state_machine_starts_it_with_the_event_s_input(cloud):
    [name] = [n for n, spec in cloud.scheduler.specs.items() if spec.target and ":states:" in spec.target["Arn"]]
    assert cloud.scheduler.specs[name].expression == "cron(0 2 * * ? *)"
    cloud.scheduler.fire(name)
    sfn = cloud.client("stepfunctions")
    [execution] = wait_for(lambda: sfn.list_executions(stateMachineArn=cloud.physical_id("Report"))["executions"])
    described = wait_for(lambda: (d := sfn.describe_execution(executionArn=execution["executionArn"]))["status"]
                         == "SUCCEEDED" and d)
    assert json.loads(described["input"]) == {"kind": "nightly"}


def test_each_target_of_a_rule_gets_the_schedule_s_events(cloud):
    rule = cloud.physical_id("Hourly")
    assert sorted(n for n in cloud.scheduler.specs if n.startswith(rule)) == [
        f"{rule}/notes", f"{rule}/reports", f"{rule}/stamp"]
    cloud.scheduler.fire(f"{rule}/reports")
    [body] = drain(cloud.client("sqs"), cloud.physical_id("Reports"), 1)
    report = json.loads(body)  # a string variable outside quotes in a JSON template is a JSON string
    assert report["report"] == "hourly" and report["at"].endswith("Z")
    cloud.scheduler.fire(f"{rule}/notes")
    [note] = drain(cloud.client("sqs"), cloud.physical_id("Notes"), 1)  # a text template: its text
    assert note.startswith(f"hourly report of {rule} at ") and note.endswith("Z")
    answer = cloud.scheduler.fire(f"{rule}/stamp")
    assert answer == {"seen": "Scheduled Event"}
    event = cloud.scheduler.event(f"{rule}/stamp")
    assert event["resources"] == [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"]

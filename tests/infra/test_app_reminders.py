"""Parity: EventBridge Scheduler (fixtures/apps/reminders). SAM's ScheduleV2 event and a template's
AWS::Scheduler::Schedule deploy and fire: a function gets the Input with Scheduler's context attributes put in, or
Scheduler's default notification; a cron schedule keeps its time zone; a one-time schedule created at run time
sends to its queue once and is deleted after completion; a deleted schedule fires no more; an expression Scheduler
refuses is refused. Before, the deployer refused both resource types and moto only stored schedules: none fired.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from racing import drain, wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "reminders" / "template.yaml"


def seen(cloud):
    items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("SeenTable"))["Items"]
    return [json.loads(item["event"]["S"]) for item in items]


def one_time(cloud, name, seconds, **target):
    at = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    queue = cloud.client("sqs").get_queue_attributes(QueueUrl=cloud.physical_id("Reminders"),
                                                      AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("scheduler").create_schedule(
        Name=name, ScheduleExpression=f"at({at})", FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": queue, "RoleArn": "arn:aws:iam::123456789012:role/scheduler", **target})


def test_the_template_s_schedules_fire_their_function(cloud):
    scheduler = cloud.client("scheduler")
    names = {s["Name"]: s["Arn"] for s in scheduler.list_schedules()["Schedules"]}
    [tick] = [n for n in names if n != cloud.physical_id("Morning")]
    cloud.scheduler.fire(f"default/{tick}")
    [event] = wait_for(lambda: seen(cloud))
    assert event == {"job": "tick", "schedule": names[tick]}  # the Input, its context attribute put in

    morning = cloud.physical_id("Morning")
    cloud.scheduler.fire(f"default/{morning}")
    [default] = wait_for(lambda: [e for e in seen(cloud) if e.get("source") == "aws.scheduler"])
    assert default["detail-type"] == "Scheduled Event" and default["resources"] == [names[morning]]
    assert default["detail"] == "{}" and default["account"] == "123456789012" and default["time"].endswith("Z")

    due = cloud.scheduler.next_fire(f"default/{morning}").astimezone(ZoneInfo("Europe/Paris"))
    assert (due.hour, due.minute) == (9, 0) and due > datetime.now(UTC)  # 09:00 in Paris, not in UTC


def test_a_one_time_schedule_created_at_run_time_sends_once_and_is_deleted_after(cloud):
    one_time(cloud, "remind-me", 2, Input="remember <aws.scheduler.scheduled-time>")
    [body] = drain(cloud.client("sqs"), cloud.physical_id("Reminders"), 1, seconds=15)
    assert body.startswith("remember 20") and body.endswith("Z")
    with pytest.raises(ClientError) as gone:  # ActionAfterCompletion DELETE
        cloud.client("scheduler").get_schedule(Name="remind-me")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_deleted_schedule_fires_no_more(cloud):
    one_time(cloud, "never", 2, Input="never")
    cloud.client("scheduler").delete_schedule(Name="never")
    time.sleep(3.5)
    assert drain(cloud.client("sqs"), cloud.physical_id("Reminders"), 1, seconds=1) == []


def test_an_expression_scheduler_refuses_is_refused(cloud):
    with pytest.raises(ClientError) as refused:
        cloud.client("scheduler").create_schedule(
            Name="bad", ScheduleExpression="rate(0 minutes)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RoleArn": "arn:aws:iam::123456789012:role/r"})
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_a_rate_in_the_singular_for_several_minutes_is_a_scheduler_schedule(cloud):
    """EventBridge Scheduler documents its units without rules' singular/plural limitation, and
    aws-samples/serverless-patterns deploy rate(5 minute) schedules (refused here before 7 December)."""
    cloud.client("scheduler").create_schedule(
        Name="five", ScheduleExpression="rate(5 minute)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RoleArn": "arn:aws:iam::123456789012:role/r"})
    assert cloud.client("scheduler").get_schedule(Name="five")["ScheduleExpression"] == "rate(5 minute)"
    cloud.client("scheduler").delete_schedule(Name="five")

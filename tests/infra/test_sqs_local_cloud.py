"""The local cloud runs a template's SQS event (ScalingConfig, ReportBatchItemFailures, redrive) and schedules."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
import pytest

from infra.cloud import LocalCloud

FIXTURES = Path(__file__).parent / "fixtures" / "h6"
sys.path.insert(0, str(FIXTURES))
import h6_queue_worker as worker  # noqa: E402 - the same module the local cloud's runtime imports
import h6_scheduled  # noqa: E402

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def cloud():
    # the handlers count in-flight invocations in module globals this test reads: one process (thread sandboxes)
    with LocalCloud(FIXTURES / "queue.yaml", static_dir=None, sandboxes="thread") as cloud:
        yield cloud


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_the_template_s_sqs_event_becomes_a_poller_with_its_settings(cloud):
    [poller] = cloud.pollers
    spec = poller.spec
    assert spec.function == cloud.physical_id("Worker")
    assert spec.queue_url == cloud.physical_id("JobsQueue")
    assert (spec.batch_size, spec.batching_window, spec.maximum_concurrency) == (2, 0.0, 2)
    assert spec.report_batch_item_failures and spec.enabled


def test_a_burst_runs_at_maximum_concurrency_and_failures_reach_the_dlq(cloud):
    worker.reset()
    sqs = boto3.client("sqs", endpoint_url=cloud.endpoints["aws_endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    queue = cloud.physical_id("JobsQueue")
    dlq = cloud.physical_id("JobsDeadLetterQueue")
    orders = [{"n": i, "sleep": 0.15, "fail": i in (5, 17)} for i in range(30)]
    started = time.monotonic()
    sent = []
    for start in range(0, 30, 10):
        response = sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(o)} for i, o in enumerate(orders[start:start + 10])])
        sent += [entry["MessageId"] for entry in sorted(response["Successful"], key=lambda e: int(e["Id"]))]
    # moto alone would have run the handler inside SendMessage, one message at a time
    assert time.monotonic() - started < 2.0                          # vs 30 x 0.15 s if run inside

    def dead_letters() -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    [poller] = cloud.pollers
    wait_until(lambda: dead_letters() == 2 and poller.stats["succeeded"] == 28)

    assert worker.max_in_flight == 2
    assert max(d[3] for d in worker.deliveries) == 2                   # BatchSize
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert {m["MessageId"] for m in dead} == {sent[5], sent[17]}
    assert {d[0] for d in worker.deliveries} == set(sent)
    remaining = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert remaining["ApproximateNumberOfMessages"] == remaining["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_the_template_s_schedules_can_be_fired(cloud):
    h6_scheduled.events.clear()
    rules = {spec.expression: spec for spec in cloud.scheduler.specs.values()}
    assert set(rules) == {"rate(1 hour)", "cron(30 2 * * ? *)"}

    cloud.scheduler.fire(rules["cron(30 2 * * ? *)"].name)
    cloud.scheduler.fire(rules["rate(1 hour)"].name)

    assert h6_scheduled.events[0] == {"op": "sweep"}
    scheduled = h6_scheduled.events[1]
    assert scheduled["detail-type"] == "Scheduled Event" and scheduled["source"] == "aws.events"
    assert scheduled["resources"] == [cloud.scheduler.rule_arn(rules["rate(1 hour)"].name)]

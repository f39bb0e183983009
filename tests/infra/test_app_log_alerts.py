"""Parity: alerting on a function's logs (fixtures/apps/log_alerts): a subscription filter sends the worker's error
lines to an alerting function and metric filters turn its lines into metrics. Before, the deployer refused both
types (and the whole template); moto, asked through the API, sent a subscription every event of its group
whatever the pattern, synchronously, and metric filters emitted nothing.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "log_alerts" / "template.yaml"

JOBS = [{"level": "INFO", "route": "/a", "latency": 5}, {"level": "ERROR", "route": "/pay", "latency": 812},
        {"level": "ERROR", "route": "/pay", "latency": 400}, {"level": "WARN", "route": "/b", "latency": 3}]


def alerts(cloud, wanted: int) -> list[dict]:
    sqs, url = cloud.client("sqs"), cloud.stack.outputs["AlertsUrl"]
    batches, deadline = [], time.monotonic() + 20
    while sum(len(b["logEvents"]) for b in batches) < wanted and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get(
                "Messages", []):
            batches.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return batches


def statistics(cloud, name: str, dimensions: list[dict]) -> dict:
    now = datetime.now(UTC)
    points = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="Shop", MetricName=name, Dimensions=dimensions, StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1), Period=3600, Statistics=["Sum", "SampleCount", "Maximum"])["Datapoints"]
    return {k: sum(p[k] for p in points) for k in ("Sum", "SampleCount")} | \
        {"Maximum": max((p["Maximum"] for p in points), default=None)}


def test_the_subscription_gets_only_the_lines_its_pattern_matches(cloud):
    group = cloud.stack.outputs["WorkerLogGroup"]
    assert cloud.invoke("Worker", {"jobs": JOBS}) == {"logged": 4}
    [batch] = alerts(cloud, 2)
    assert (batch["messageType"], batch["owner"], batch["logGroup"]) == ("DATA_MESSAGE", "123456789012", group)
    assert batch["subscriptionFilters"] == ["notifyx-ErrorsToAlerter"]
    assert [json.loads(e["message"])["latency"] for e in batch["logEvents"]] == [812, 400]
    assert all({"id", "timestamp", "message"} <= set(e) for e in batch["logEvents"])
    # PutLogEvents of another writer into the group reaches it too
    logs = cloud.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName="by-hand")
    logs.put_log_events(logGroupName=group, logStreamName="by-hand", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": json.dumps({"level": "INFO", "route": "/x", "latency": 1})},
        {"timestamp": int(time.time() * 1000), "message": json.dumps({"level": "ERROR", "route": "/x", "latency": 9})}])
    [batch] = alerts(cloud, 1)
    assert batch["logStream"] == "by-hand" and [json.loads(e["message"])["route"] for e in batch["logEvents"]] == ["/x"]


def test_metric_filters_turn_matching_lines_into_datapoints(cloud):
    before = statistics(cloud, "Errors", [])
    before_latency = statistics(cloud, "ErrorLatency", [{"Name": "Route", "Value": "/pay"}])
    cloud.invoke("Worker", {"jobs": JOBS})
    deadline = time.monotonic() + 20  # Lambda's log lines reach CloudWatch Logs after the invocation returns
    while statistics(cloud, "Errors", [])["SampleCount"] < before["SampleCount"] + 7 and time.monotonic() < deadline:
        time.sleep(0.1)
    latency = statistics(cloud, "ErrorLatency", [{"Name": "Route", "Value": "/pay"}])
    assert (latency["Sum"] - before_latency["Sum"], latency["SampleCount"] - before_latency["SampleCount"],
            latency["Maximum"]) == (1212.0, 2, 812.0)
    errors = statistics(cloud, "Errors", [])
    # one datapoint per event of the group: 1 per error line, the DefaultValue 0 for the others (the two other job
    # lines and Lambda's START, END and REPORT lines)
    assert (errors["Sum"] - before["Sum"], errors["SampleCount"] - before["SampleCount"]) == (2.0, 7.0)


def test_a_pattern_the_local_cloud_cannot_evaluate_is_refused(cloud):
    from botocore.exceptions import ClientError

    logs, group = cloud.client("logs"), cloud.stack.outputs["WorkerLogGroup"]
    with pytest.raises(ClientError, match="space-delimited"):
        logs.put_metric_filter(logGroupName=group, filterName="spaced", filterPattern="[ip, user, status = 5*]",
                               metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}])
    # a put of an existing filter's name replaces it
    for value in ("1", "2"):
        logs.put_metric_filter(logGroupName=group, filterName="twice", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "Twice", "metricNamespace": "Shop",
                                                       "metricValue": value}])
    found = logs.describe_metric_filters(logGroupName=group, filterNamePrefix="twice")["metricFilters"]
    assert [f["metricTransformations"][0]["metricValue"] for f in found] == ["2"]

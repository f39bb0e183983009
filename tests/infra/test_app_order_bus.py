"""Parity: an EventBridge app (fixtures/apps/order_bus) deploys unmodified and routes events as EventBridge does.

A custom bus; SAM's EventBridgeRule events invoke functions (asynchronously, as EventBridge invokes Lambda) with
the whole event or the part InputPath names, and start a state machine; a rule's constant Input reaches its queue;
an SNS topic target fans out to its subscriber; a DISABLED rule delivers nothing. moto failed every PutEvents that
matched a rule with a Lambda target (NotImplementedError), ignored Input and InputPath, sent nothing to SNS or
Step Functions targets, left `account` out of the event, and matched events to disabled rules.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path


from racing import drain as queue_bodies
from racing import race, wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "order_bus" / "template.yaml"


def seen(cloud, kind):
    items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("SeenTable"))["Items"]
    return [json.loads(item["event"]["S"]) for item in items if item["id"]["S"].startswith(kind + ":")]


def drain(cloud, logical_id, count, seconds=10.0):
    return queue_bodies(cloud.client("sqs"), cloud.physical_id(logical_id), count, seconds)


def test_events_reach_every_kind_of_target_as_eventbridge_delivers_them(cloud):
    events = cloud.client("events")
    assert cloud.physical_id("AuditRule").startswith("orders|")  # Ref of a custom bus's rule: bus|rule
    answer = events.put_events(Entries=[
        {"EventBusName": "orders", "Source": "shop.orders", "DetailType": "placed",
         "Detail": json.dumps({"order": "o1", "total": 150})},
        {"EventBusName": "orders", "Source": "shop.orders", "DetailType": "placed",
         "Detail": json.dumps({"order": "o2", "total": 20})},
        {"EventBusName": "orders", "Source": "shop.refunds", "DetailType": "refund",
         "Detail": json.dumps({"order": "o1"})}])
    assert answer["FailedEntryCount"] == 0
    ids = [entry["EventId"] for entry in answer["Entries"]]

    assert wait_for(lambda: seen(cloud, "big")) == [{"order": "o1", "total": 150}]  # InputPath $.detail
    whole = wait_for(lambda: (found := seen(cloud, "all")) and len(found) == 2 and found)
    assert sorted(e["id"] for e in whole) == sorted(ids[:2])
    first = next(e for e in whole if e["id"] == ids[0])
    assert list(first) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]
    assert first["account"] == "123456789012" and first["region"] == "us-east-1"
    assert first["detail"] == {"order": "o1", "total": 150} and first["time"].endswith("Z")

    # the constant Input, once per matching event; the DISABLED rule's target got nothing
    assert drain(cloud, "AuditQueue", 2) == ['{"audit": true}'] * 2
    assert drain(cloud, "AuditQueue", 1, seconds=2) == []  # (deliveries are made inside PutEvents)
    [refund] = [json.loads(body) for body in drain(cloud, "RefundInbox", 1)]
    assert refund["id"] == ids[2] and refund["source"] == "shop.refunds" and refund["account"] == "123456789012"
    sfn = cloud.client("stepfunctions")
    [execution] = wait_for(lambda: sfn.list_executions(stateMachineArn=cloud.physical_id("RefundFlow"))[
        "executions"])
    started = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(started["input"])["id"] == ids[2]


def test_put_events_while_rules_change_fails_nothing(cloud):
    """PutEvents walked a bus's rules while PutRule and DeleteRule changed them: the call failed ("OrderedDict
    mutated during iteration", a 500 over HTTP) after delivering part of its events."""
    events, sqs = cloud.client("events"), cloud.client("sqs")
    queue = sqs.create_queue(QueueName="churn")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="steady", EventPattern=json.dumps({"source": ["churn.test"]}))
    events.put_targets(Rule="steady", Targets=[{"Id": "q", "Arn": queue_arn}])
    failures, sent, stop = [], [], threading.Event()

    def churn():
        n = 0
        while not stop.is_set():
            events.put_rule(Name=f"brief-{n % 5}", EventPattern=json.dumps({"source": ["nobody"]}))
            events.delete_rule(Name=f"brief-{(n + 2) % 5}")
            n += 1

    def publish():
        while not stop.is_set():
            try:
                answer = events.put_events(Entries=[{"Source": "churn.test", "DetailType": "t", "Detail": "{}"}])
                sent.append(answer["FailedEntryCount"])
            except Exception as exc:  # noqa: BLE001 - what the test counts
                failures.append(repr(exc))

    race([threading.Thread(target=churn)] + [threading.Thread(target=publish) for _ in range(3)],
         meanwhile=lambda: stop.wait(2) or stop.set())
    assert not failures, failures[:3]
    assert sent and set(sent) == {0}
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == len(sent)  # each event once

"""Observability as on AWS, read through boto3 after real traffic (issue 11, part 4): the functions' EMF metrics
and the metrics AWS publishes itself (Lambda, API Gateway, SQS, Step Functions) in CloudWatch, the functions'
logs with Lambda's START/END/REPORT lines in CloudWatch Logs, one X-Ray trace per publish across the gateway,
the coordinator and both participants, and an alarm that turns to ALARM (and notifies SNS) when the mail
dead-letter queue gets a message."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from client.sdk import ApiError
from test_mail import wait_for

pytestmark = pytest.mark.timeout(180)


def physical(aws, suffix: str, kind: str) -> str:
    """The deployed name of a resource of the stack, found through the API as an operator would."""
    if kind == "function":
        names = [f["FunctionName"] for p in aws("lambda").get_paginator("list_functions").paginate()
                 for f in p["Functions"]]
    elif kind == "queue":
        names = aws("sqs").list_queues().get("QueueUrls", [])
    elif kind == "alarm":
        names = [a["AlarmName"] for a in aws("cloudwatch").describe_alarms()["MetricAlarms"]]
    elif kind == "table":
        names = aws("dynamodb").list_tables()["TableNames"]
    else:
        names = [t["TopicArn"] for t in aws("sns").list_topics()["Topics"]]
    found = [n for n in names if n.rsplit("/", 1)[-1].rsplit(":", 1)[-1].split("-", 1)[-1].startswith(suffix)]
    assert len(found) == 1, (suffix, names)
    return found[0]


def statistic(cloudwatch, namespace: str, name: str, dimensions: dict[str, str] | None, stat: str = "Sum") -> float:
    """The statistic over the last 15 minutes (1-minute periods summed), 0 when there is no datapoint."""
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=name, StartTime=now - timedelta(minutes=15), EndTime=now + timedelta(minutes=1),
        Period=60, Statistics=[stat], Dimensions=[{"Name": k, "Value": v} for k, v in (dimensions or {}).items()])
    return sum(point[stat] for point in answer["Datapoints"])


@pytest.fixture
def traffic(owner_and_subscriber, new_user, aws):
    """Publishes (committed, one aborted), deliveries, a mail and an avatar, through the public APIs."""
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    # a connection whose $disconnect never came (it happens on AWS): the fan-out meets 410 Gone and forgets it
    aws("dynamodb").update_item(TableName=physical(aws, "ConnectionsTable", "table"),
                                Key={"user_id": {"S": subscriber.id}}, UpdateExpression="ADD connections :c",
                                ExpressionAttributeValues={":c": {"SS": ["stale-connection="]}})
    committed = [owner_conn.request("publish", topic=topic, message=f"observed {i}") for i in range(3)]
    for _ in committed:
        sub_conn.next_notification(timeout=10)
    with pytest.raises(ApiError) as aborted:  # persist votes NO: the address is not a subscriber
        owner_conn.request("publish", topic=topic, message="to a stranger", to=["nobody@example.com"])
    assert aborted.value.code in ("aborted", "invalid_request"), aborted.value
    owner_conn.request("send_email", to=subscriber.email, subject="observed", message="hello")
    owner_conn.request("generate_avatar", name=f"observed-{topic}", size=32)
    return owner, owner_conn, subscriber, sub_conn, topic, committed


def test_metrics_of_the_functions_and_of_the_services_answer_through_cloudwatch(traffic, aws):
    cloudwatch = aws("cloudwatch")
    gateway = {"service": "gateway"}
    wait_for(lambda: statistic(cloudwatch, "Notifyx", "PublishesCommitted", gateway) >= 3, 20, "committed publishes")
    assert statistic(cloudwatch, "Notifyx", "PublishesAborted", gateway) >= 1
    reasons = cloudwatch.list_metrics(Namespace="Notifyx", MetricName="PublishesAbortedByReason")["Metrics"]
    assert {d["Name"] for m in reasons for d in m["Dimensions"]} == {"service", "reason"}, reasons
    for name in ("TwoPhaseCommitDuration", "PublishLatency", "DeliveryLatency"):
        assert statistic(cloudwatch, "Notifyx", name, gateway, "Maximum") > 0, name
    assert statistic(cloudwatch, "Notifyx", "DeliveriesSent", gateway) >= 3
    assert statistic(cloudwatch, "Notifyx", "GoneConnectionsRemoved", gateway) >= 1
    assert statistic(cloudwatch, "Notifyx", "ConnectionsOpened", gateway) >= 2
    wait_for(lambda: statistic(cloudwatch, "Notifyx", "MailSent", {"service": "mail"}) >= 1, 30, "a sent mail")
    assert statistic(cloudwatch, "Notifyx", "MailInFlight", {"service": "mail"}, "Maximum") >= 1
    assert statistic(cloudwatch, "Notifyx", "AvatarsRendered", {"service": "avatar"}) >= 1

    actions = {"FunctionName": physical(aws, "GatewayActions", "function")}
    assert statistic(cloudwatch, "AWS/Lambda", "Invocations", actions) >= 6
    assert statistic(cloudwatch, "AWS/Lambda", "Duration", actions, "Maximum") > 0
    assert statistic(cloudwatch, "AWS/Lambda", "ConcurrentExecutions", actions, "Maximum") >= 1
    assert "Errors" in {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="AWS/Lambda")["Metrics"]}

    api = cloudwatch.list_metrics(Namespace="AWS/ApiGateway", MetricName="ConnectCount")["Metrics"][0]["Dimensions"]
    api = {d["Name"]: d["Value"] for d in api}
    assert set(api) == {"ApiId", "Stage"}
    assert statistic(cloudwatch, "AWS/ApiGateway", "ConnectCount", api) >= 2
    assert statistic(cloudwatch, "AWS/ApiGateway", "MessageCount", api) >= 6
    assert statistic(cloudwatch, "AWS/ApiGateway", "IntegrationLatency", api, "Maximum") > 0

    queue = {"QueueName": physical(aws, "MailQueue", "queue").rsplit("/", 1)[1]}
    for name in ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted"):
        wait_for(lambda name=name: statistic(cloudwatch, "AWS/SQS", name, queue) >= 1, 20, name)
    age = {"Namespace": "AWS/SQS", "MetricName": "ApproximateAgeOfOldestMessage",
           "Dimensions": [{"Name": "QueueName", "Value": queue["QueueName"]}]}
    wait_for(lambda: cloudwatch.list_metrics(**age)["Metrics"], 15, "the queue's sampled gauges")

    machine = {"StateMachineArn": aws("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]}
    assert statistic(cloudwatch, "AWS/States", "ExecutionsStarted", machine) >= 4
    assert statistic(cloudwatch, "AWS/States", "ExecutionsSucceeded", machine) >= 4
    assert statistic(cloudwatch, "AWS/States", "ExecutionTime", machine, "Maximum") > 0

    # percentiles, as the latency alarm and the dashboard read them
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(StartTime=now - timedelta(minutes=15), EndTime=now + timedelta(minutes=1),
                                        MetricDataQueries=[{"Id": "p99", "MetricStat": {
                                            "Metric": {"Namespace": "Notifyx", "MetricName": "PublishLatency",
                                                       "Dimensions": [{"Name": "service", "Value": "gateway"}]},
                                            "Period": 60, "Stat": "p99"}}])
    values = answer["MetricDataResults"][0]["Values"]
    assert values and max(values) > 0, answer


def test_function_logs_are_structured_json_with_lambdas_report_lines(traffic, aws):
    owner, owner_conn, subscriber, sub_conn, topic, committed = traffic
    logs = aws("logs")
    group = f"/aws/lambda/{physical(aws, 'GatewayActions', 'function')}"

    def published_lines():
        events = logs.filter_log_events(logGroupName=group, filterPattern=f'"{topic}"')["events"]
        return [json.loads(e["message"]) for e in events if e["message"].startswith("{")]

    lines = wait_for(lambda: [x for x in published_lines() if x.get("message") == "publish committed"], 15,
                     "the gateway's publish log lines")
    line = lines[0]
    assert line["level"] == "INFO" and line["service"] == "gateway" and line["topic"] == topic
    assert line["txid"].startswith("pub-") and line["connection_id"]
    assert line["function_request_id"] and "cold_start" in line
    events = logs.filter_log_events(logGroupName=group)["events"]
    messages = [e["message"] for e in events]
    assert any(m.startswith("START RequestId: ") for m in messages)
    assert any(m.startswith("END RequestId: ") for m in messages)
    reports = [m for m in messages if m.startswith("REPORT RequestId: ")]
    assert reports and all("Billed Duration: " in m and "Max Memory Used: " in m for m in reports)
    assert any("Init Duration: " in m for m in reports)  # the first invocation of a sandbox was a cold start
    emf = [json.loads(m) for m in messages if m.startswith('{"_aws"')]
    assert any("PublishesCommitted" in m for m in emf)


def test_one_publish_is_one_trace_from_the_gateway_through_both_participants(owner_and_subscriber, aws):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    xray = aws("xray")
    wanted = {"GatewayActions", "TransactionCoordinator", "PersistParticipant", "CounterParticipant"}

    def traced_publish():
        # X-Ray samples the first request of each second (then 5%): a publish a second is traced
        started = datetime.now(UTC) - timedelta(seconds=1)
        data = owner_conn.request("publish", topic=topic, message="traced")
        time.sleep(1.5)
        summaries = xray.get_trace_summaries(StartTime=started, EndTime=datetime.now(UTC) + timedelta(seconds=5))
        ids = [s["Id"] for s in summaries["TraceSummaries"]]
        for start in range(0, len(ids), 5):
            for trace in xray.batch_get_traces(TraceIds=ids[start:start + 5])["Traces"]:
                documents = [json.loads(s["Document"]) for s in trace["Segments"]]
                functions = {d["name"].split("-", 1)[-1] for d in documents
                             if d.get("origin") == "AWS::Lambda::Function"}
                if wanted <= functions:
                    return data, trace, documents
        return None

    data, trace, documents = wait_for(traced_publish, 60, "a traced publish", interval=0.1)
    entities = {}

    def collect(entity):
        entities[entity["id"]] = entity
        for child in entity.get("subsegments") or ():
            collect(child)

    for document in documents:
        collect(document)
    machine = [d for d in documents if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    assert machine and {t["name"] for t in machine[0]["subsegments"]} >= {"PreparePersist", "PrepareCounter"}
    # the state machine continues the gateway's trace (its parent is the gateway's function segment: the local
    # cloud answers StartExecution at botocore's before-call, before the X-Ray SDK names its own subsegment)
    gateway = {d["id"] for d in documents if d.get("name", "").endswith("GatewayActions")}
    assert machine[0]["parent_id"] in gateway | set(entities), machine[0]
    parent = entities[machine[0]["parent_id"]]
    assert parent.get("name", "").endswith("GatewayActions") or parent.get("namespace") == "aws", parent
    participants = [d for d in documents if d.get("origin") == "AWS::Lambda"
                    and d["name"].endswith(("PersistParticipant", "CounterParticipant"))]
    assert participants and all(d.get("parent_id") for d in participants)
    assert {d["trace_id"] for d in documents} == {trace["Id"]}
    calls = {e.get("aws", {}).get("operation") for e in entities.values() if e.get("namespace") == "aws"}
    assert {"StartExecution", "Invoke", "PostToConnection"} <= calls, calls  # boto3 calls are subsegments
    steps = {e["name"] for e in entities.values() if e.get("name", "").startswith("## ")}
    assert {"## two-phase commit", "## fan-out", "## prepare", "## commit"} <= steps, steps


def test_an_alarm_turns_to_alarm_when_the_dead_letter_queue_gets_a_message(cloud, aws):
    sqs, cloudwatch, sns = aws("sqs"), aws("cloudwatch"), aws("sns")
    alarm = physical(aws, "MailDeadLetterAlarm", "alarm")
    dlq = physical(aws, "MailDeadLetterQueue", "queue")
    inbox = sqs.create_queue(QueueName=f"alarm-inbox-{int(time.time() * 1000)}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=physical(aws, "AlarmTopic", "topic"), Protocol="sqs", Endpoint=inbox_arn)
    state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert state in ("OK", "INSUFFICIENT_DATA")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"mail_id": "mail-that-never-went"}))
    try:
        wait_for(lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM",
                 30, "the dead-letter alarm")
        described = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        assert "Threshold Crossed" in described["StateReason"]

        def notified():
            for message in sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1).get("Messages", []):
                body = json.loads(json.loads(message["Body"])["Message"])
                if body["AlarmName"] == alarm and body["NewStateValue"] == "ALARM":
                    return body
            return None

        body = wait_for(notified, 15, "the alarm's SNS notification")
        assert body["OldStateValue"] in ("OK", "INSUFFICIENT_DATA")
    finally:
        sqs.purge_queue(QueueUrl=dlq)
        sqs.delete_queue(QueueUrl=inbox)

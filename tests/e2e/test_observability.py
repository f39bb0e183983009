"""Observability as on AWS, read through boto3 after real traffic (issue 11, part 4): the functions' EMF metrics
and the metrics AWS publishes itself (Lambda, API Gateway, SQS, Step Functions) in CloudWatch, the functions'
logs with Lambda's START/END/REPORT lines in CloudWatch Logs, one X-Ray trace per publish across the gateway,
the coordinator and both participants, and an alarm that turns to ALARM (and notifies SNS) when the mail
dead-letter queue gets a message. Failures are made for real with the local cloud's fault switch (infra/faults.py)
and counted as AWS documents them: a function error and a throttle (AWS/Lambda Errors, Throttles; API Gateway's
IntegrationError, ExecutionError), a refused $connect (ClientError), executions that fail and time out
(AWS/States), a mail provider down (its breaker opens: BreakerStateChange) and a mail refused for good (MailRetried,
MailFailed)."""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from client.sdk import ApiError, Connection
from test_mail import mail_status, post_mail, wait_for

pytestmark = pytest.mark.timeout(180)


def physical_functions(aws) -> list[str]:
    """The deployed names of every function."""
    return [f["FunctionName"] for p in aws("lambda").get_paginator("list_functions").paginate() for f in p["Functions"]]


def physical(aws, suffix: str, kind: str) -> str:
    """The deployed name of a resource of the stack, found through the API as an operator would."""
    if kind == "function":
        names = physical_functions(aws)
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


def statistic(cloudwatch, namespace: str, name: str, dimensions: dict[str, str] | None, stat: str = "Sum",
              since: datetime | None = None) -> float:
    """The statistic since `since` (default: the last 15 minutes), 1-minute periods summed (Maximum: the
    greatest), 0 when there is no datapoint."""
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=name, StartTime=since or now - timedelta(minutes=15),
        EndTime=now + timedelta(minutes=1), Period=60, Statistics=[stat],
        Dimensions=[{"Name": k, "Value": v} for k, v in (dimensions or {}).items()])
    points = [point[stat] for point in answer["Datapoints"]]
    return (max(points) if stat == "Maximum" else sum(points)) if points else 0


class Added:
    """How much some traffic added to metrics: sums over one fixed window read before and after it (the shared
    cloud has served other tests, so only the difference is this test's)."""

    def __init__(self, cloudwatch, *metrics: tuple[str, str, dict[str, str] | None]) -> None:
        self.cloudwatch = cloudwatch
        self.since = datetime.now(UTC) - timedelta(minutes=15)
        self.before = {self._key(m): self._sum(*m) for m in metrics}

    @staticmethod
    def _key(metric: tuple[str, str, dict[str, str] | None]) -> tuple:
        namespace, name, dimensions = metric
        return namespace, name, tuple(sorted((dimensions or {}).items()))

    def _sum(self, namespace: str, name: str, dimensions: dict[str, str] | None) -> float:
        return statistic(self.cloudwatch, namespace, name, dimensions, "Sum", self.since)

    def __call__(self, namespace: str, name: str, dimensions: dict[str, str] | None = None) -> float:
        metric = (namespace, name, dimensions)
        return self._sum(*metric) - self.before[self._key(metric)]


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

    machine = {"StateMachineArn": next(m["stateMachineArn"] for m in aws("stepfunctions").list_state_machines()[
        "stateMachines"] if "PublishStateMachine" in m["name"])}
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


def logged(logs, function: str, pattern: str) -> list[str]:
    """The messages of a function's log group that match `pattern` (none if it was never invoked)."""
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern=pattern)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


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
    # a sandbox's first invocation reports its Init Duration. The gateway's own may be gone: a log group keeps its
    # newest events (5,000 locally), and the gateway answers every frame of every test before this one
    assert any(m.startswith("REPORT RequestId: ") and "Init Duration: " in m
               for name in physical_functions(aws) for m in logged(logs, name, '"Init Duration"'))
    emf = [json.loads(m) for m in messages if m.startswith('{"_aws"')]
    assert any("PublishesCommitted" in m for m in emf)


def test_one_publish_is_one_trace_from_the_gateway_through_both_participants(owner_and_subscriber, aws):
    owner, owner_conn, subscriber, sub_conn, topic = owner_and_subscriber
    xray = aws("xray")
    wanted = {"GatewayActions", "PersistParticipant", "CounterParticipant"}

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
                # this publish's trace (its execution is named after it), not an earlier test's aborted publish
                if wanted <= functions and any(data["notification_id"] in s["Document"] for s in trace["Segments"]):
                    # the functions' own subsegments come over UDP, apart from Lambda's segments: read the trace
                    # until the fan-out's last call is in it
                    trace = wait_for(lambda trace_id=trace["Id"]: complete(trace_id), 10, "the trace's subsegments")
                    return data, trace, [json.loads(s["Document"]) for s in trace["Segments"]]
        return None

    def complete(trace_id):
        trace = xray.batch_get_traces(TraceIds=[trace_id])["Traces"][0]
        return trace if any('"PostToConnection"' in s["Document"] for s in trace["Segments"]) else None

    data, trace, documents = wait_for(traced_publish, 60, "a traced publish", interval=0.1)
    entities = {}

    def collect(entity):
        entities[entity["id"]] = entity
        for child in entity.get("subsegments") or ():
            collect(child)

    for document in documents:
        collect(document)
    machine = [d for d in documents if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    # every task is a subsegment: the participants' Lambda tasks and the coordinator's DynamoDB steps
    assert machine and {t["name"] for t in machine[0]["subsegments"]} >= {
        "Begin", "PreparePersist", "PrepareCounter", "RecordCommit", "CommitPersist", "CommitCounter", "CompleteCommit"}
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
    # the fan-out's subsegment counts its posts (beyond the first few, posts are not subsegments of their own)
    [fan_out] = [e for e in entities.values() if e.get("name") == "## fan-out"]
    counts = fan_out["metadata"]["gateway"]
    assert counts["connections"] >= 1 and counts["sent"] == counts["connections"] and counts["gone"] == 0, counts
    # DescribeExecution answers the trace header the execution was started with (its traceHeader)
    sfn = aws("stepfunctions")
    publish = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if "Publish" in m["name"])
    described = [sfn.describe_execution(executionArn=e["executionArn"]) for e in sfn.list_executions(
        stateMachineArn=publish, statusFilter="SUCCEEDED")["executions"]]
    ours = [d for d in described if data["notification_id"] in d.get("output", "")]
    assert len(ours) == 1 and f"Root={trace['Id']};" in ours[0]["traceHeader"], ours


def test_an_alarm_turns_to_alarm_when_the_dead_letter_queue_gets_a_message(fresh_cloud, aws):
    # a fresh cloud: the alarm reads the queue's last minute, and the mail tests dead-letter messages on purpose
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
        # the queue's sampled gauges the alarm read, with values
        queue = {"QueueName": dlq.rsplit("/", 1)[1]}
        assert statistic(cloudwatch, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, "Maximum") >= 1
        assert statistic(cloudwatch, "AWS/SQS", "ApproximateAgeOfOldestMessage", queue, "Maximum") > 0

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


def websocket_stage(aws) -> dict[str, str]:
    """The AWS/ApiGateway dimensions of the WebSocket API's stage, from API Gateway's own API."""
    apigateway = aws("apigatewayv2")
    api = next(a for a in apigateway.get_apis()["Items"] if a["ProtocolType"] == "WEBSOCKET")
    return {"ApiId": api["ApiId"], "Stage": apigateway.get_stages(ApiId=api["ApiId"])["Items"][0]["StageName"]}


def test_a_function_error_a_throttle_a_refused_connect_and_a_closed_socket_count_as_on_aws(local_cloud, new_user,
                                                                                              aws):
    from infra import faults

    cloudwatch = aws("cloudwatch")
    actions = {"FunctionName": physical(aws, "GatewayActions", "function")}
    authorizer = {"FunctionName": physical(aws, "AuthAuthorizer", "function")}
    api, gateway = websocket_stage(aws), {"service": "gateway"}
    user = new_user("failing")
    added = Added(cloudwatch, *[("AWS/Lambda", name, actions) for name in ("Invocations", "Errors", "Throttles")],
                  ("AWS/Lambda", "Errors", authorizer),
                  *[("AWS/ApiGateway", name, api) for name in ("ConnectCount", "MessageCount", "IntegrationError",
                                                               "ClientError", "ExecutionError")],
                  ("Notifyx", "ConnectionsOpened", gateway), ("Notifyx", "ConnectionsClosed", gateway))
    conn = user.connect()
    # the local cloud's fault switch: the integration's function fails (its handler never runs), then is throttled
    try:
        for kind in ("error", "throttle"):
            faults.add(f"GatewayActions:{kind}:1")
            with pytest.raises(ApiError, match="Internal server error"):
                conn.request("ping")
            faults.clear()
    finally:
        faults.clear()
    with pytest.raises(ApiError) as refused:  # the authorizer raises "Unauthorized": API Gateway answers 401
        Connection(local_cloud.endpoints["websocket_api"], "not-a-session-token")
    assert refused.value.status == 401
    # the data plane's open sockets, sampled each second (Notifyx/Local: the local cloud's own, not an AWS metric)
    wait_for(lambda: statistic(cloudwatch, "Notifyx/Local", "OpenConnections", api, "Maximum") >= 1, 5,
             "the open-connections gauge")
    # and the functions' own gauge, as on AWS: the count of open connections after each $connect / $disconnect
    wait_for(lambda: statistic(cloudwatch, "Notifyx", "OpenConnections", gateway, "Maximum") >= 1, 10,
             "the gateway's OpenConnections gauge")
    conn.close()

    wait_for(lambda: added("Notifyx", "ConnectionsClosed", gateway) >= 1, 10, "the $disconnect's metric")
    wait_for(lambda: added("AWS/ApiGateway", "MessageCount", api) >= 2, 5, "the messages counted")
    assert added("Notifyx", "ConnectionsOpened", gateway) == 1
    assert added("Notifyx", "ConnectionsClosed", gateway) == 1
    # Lambda: the failed invocation is an error; the throttled request is a throttle, not an invocation
    assert added("AWS/Lambda", "Errors", actions) == 1
    assert added("AWS/Lambda", "Throttles", actions) == 1
    assert added("AWS/Lambda", "Invocations", actions) == 1
    assert added("AWS/Lambda", "Errors", authorizer) == 1  # raising "Unauthorized" is the function's error
    # API Gateway as AWS documents the WebSocket metrics: ConnectCount counts messages to the $connect route's
    # integration (the authorizer is not it); IntegrationError a failed answer of the integration; ExecutionError
    # a failure to call it (Lambda's 429); ClientError a 4XX API Gateway answers before any integration runs
    assert added("AWS/ApiGateway", "ConnectCount", api) == 1
    assert added("AWS/ApiGateway", "IntegrationError", api) == 1
    assert added("AWS/ApiGateway", "ExecutionError", api) == 1
    # what API Gateway refuses before any integration runs is counted by the data plane, sampled each second
    wait_for(lambda: added("AWS/ApiGateway", "ClientError", api) >= 1, 5, "the refused handshake's ClientError")
    assert added("AWS/ApiGateway", "ClientError", api) == 1


def test_an_execution_that_fails_and_one_that_times_out_count_in_aws_states(cloud, aws):
    from infra import account

    sfn, cloudwatch = aws("stepfunctions"), aws("cloudwatch")
    run = uuid.uuid4().hex[:8]
    # the publish machine retries its tasks and catches what fails: two small machines end the ways it does not
    definitions = {"FAILED": {"StartAt": "Refuse", "States": {"Refuse": {"Type": "Fail", "Error": "Refused",
                                                                          "Cause": "observed"}}},
                   "TIMED_OUT": {"TimeoutSeconds": 1, "StartAt": "Linger",
                                 "States": {"Linger": {"Type": "Wait", "Seconds": 2, "End": True}}}}
    machines: dict[str, str] = {}
    try:
        executions = {}
        for status, definition in definitions.items():
            machines[status] = sfn.create_state_machine(
                name=f"observed-{status.lower()}-{run}", definition=json.dumps(definition),
                roleArn=f"arn:aws:iam::{account.ACCOUNT_ID}:role/observed")["stateMachineArn"]
            executions[status] = sfn.start_execution(stateMachineArn=machines[status])["executionArn"]
        for status, execution in executions.items():
            wait_for(lambda execution=execution, status=status:
                     sfn.describe_execution(executionArn=execution)["status"] == status, 15, f"an execution {status}")
        for status, metric in (("FAILED", "ExecutionsFailed"), ("TIMED_OUT", "ExecutionsTimedOut")):
            machine = {"StateMachineArn": machines[status]}
            wait_for(lambda metric=metric, machine=machine: statistic(cloudwatch, "AWS/States", metric, machine),
                     5, metric)
            assert statistic(cloudwatch, "AWS/States", metric, machine) == 1
            assert statistic(cloudwatch, "AWS/States", "ExecutionsStarted", machine) == 1
            assert statistic(cloudwatch, "AWS/States", "ExecutionsSucceeded", machine) == 0
            assert statistic(cloudwatch, "AWS/States", "ExecutionTime", machine, "Maximum") > 0
        timed_out = {"StateMachineArn": machines["TIMED_OUT"]}
        assert statistic(cloudwatch, "AWS/States", "ExecutionTime", timed_out, "Maximum") >= 1000  # TimeoutSeconds
    finally:
        for arn in machines.values():
            sfn.delete_state_machine(stateMachineArn=arn)


PRIMARY = "notifications@notifyx.local"  # the template's MailFrom: the first mail provider's SES identity


@pytest.fixture
def quick_retries(local_cloud, aws):
    """The shared cloud with a 1 s visibility timeout on the mail queue (an operator's SetQueueAttributes), so a
    mail's three attempts take seconds instead of a minute; restored afterwards."""
    sqs, queue = aws("sqs"), local_cloud.physical_id("MailQueue")
    before = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    yield local_cloud
    sqs.set_queue_attributes(QueueUrl=queue, Attributes=before)


# last in the module: the mail dead-letters (the DLQ alarm would fire) and the provider's breaker stays open for
# BreakerResetSeconds, closing at the first mail after that (mail meanwhile goes through the other provider)
def test_mail_retries_a_failed_mail_and_a_provider_breaker_opening_are_counted(quick_retries, new_user, aws):
    from infra import faults

    cloudwatch, sqs = aws("cloudwatch"), aws("sqs")
    user = new_user("mailfail")
    mail, opened = {"service": "mail"}, {"Breaker": "mail-sender/ses-primary", "State": "open"}
    added = Added(cloudwatch, ("Notifyx", "MailRetried", mail), ("Notifyx", "MailFailed", mail),
                  ("Notifyx", "BreakerStateChange", opened))
    run = uuid.uuid4().hex[:8]

    # one provider down (its SES identity fails every send, transiently): mails keep coming until its shared
    # breaker has counted its failures and opened; each one goes out through the other provider at once
    sent: list[str] = []

    def one_more_mail_and_opened() -> bool:
        sent.append(post_mail(user, f"b{len(sent)}-{run}@example.com", "through the other provider"))
        return added("Notifyx", "BreakerStateChange", opened) >= 1

    faults.add(f"ses:error:1:sender={PRIMARY}")
    try:
        wait_for(one_more_mail_and_opened, 30, "the primary provider's breaker to open", interval=0.05)
    finally:
        faults.clear()
    wait_for(lambda: all(mail_status(user, i)["status"] == "sent" for i in sent), 30, "those mails to be sent")
    assert added("Notifyx", "BreakerStateChange", opened) == 1  # one opening, counted by whoever won it
    assert added("Notifyx", "MailRetried", mail) == 0  # failing over is not a retry

    # every provider refuses one mail for good: two retries, then failed (MailMaxReceiveCount 3), dead-lettered
    faults.add("ses:reject:1")
    try:
        mail_id = post_mail(user, f"never-{run}@example.com", "refused everywhere")
        failed = wait_for(lambda: (m := mail_status(user, mail_id))["status"] == "failed" and m, 30, "a failed mail")
    finally:
        faults.clear()
    assert failed["attempts"] == 3 and "MessageRejected" in failed["error"], failed
    wait_for(lambda: added("Notifyx", "MailFailed", mail) >= 1, 10, "the failure's metric")
    assert added("Notifyx", "MailRetried", mail) == 2
    assert added("Notifyx", "MailFailed", mail) == 1
    dlq, body = quick_retries.physical_id("MailDeadLetterQueue"), json.dumps({"mail_id": mail_id})

    def taken_from_the_dead_letter_queue() -> bool:  # deleted, not purged: SQS allows one purge a minute
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        for message in got:
            if message["Body"] == body:
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                return True
        return False

    wait_for(taken_from_the_dead_letter_queue, 15, "the failed mail's message in the dead-letter queue")

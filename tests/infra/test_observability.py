"""The local cloud's CloudWatch and X-Ray (infra/observability), in process against moto's backends: EMF lines
become metrics that moto's CloudWatch API answers (percentiles too), the X-Ray daemon's UDP datagrams become
traces that get-trace-summaries / batch-get-traces answer, alarms are evaluated and notify SNS, Prometheus'
exposition format, the dashboard's waterfall; and the moto internals the observability patches reach."""
from __future__ import annotations

import inspect
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from infra.observability import alarms, metrics, xray
from infra.observability.metrics import MetricStore, emf_datapoints, prometheus

REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.fixture
def aws():
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION, aws_access_key_id="testing",
                                           aws_secret_access_key="testing")


@pytest.fixture
def store():
    store = MetricStore()
    metrics.serve_to_cloudwatch(store)
    yield store
    metrics.serve_to_cloudwatch(None)


def emf(**values) -> str:
    return json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "Notifyx", "Dimensions": [["service"]],
        "Metrics": [{"Name": k, "Unit": "Milliseconds" if k.endswith("Latency") else "Count"} for k in values]}]},
        "service": "gateway", **values})


def test_emf_lines_become_datapoints_with_their_dimensions_and_units():
    points = emf_datapoints(emf(PublishesCommitted=[1.0], PublishLatency=[12.5, 30.0]))
    assert sorted((p[1], p[2], p[3], p[4]["service"]) for p in points) == [
        ("PublishLatency", 12.5, "Milliseconds", "gateway"), ("PublishLatency", 30.0, "Milliseconds", "gateway"),
        ("PublishesCommitted", 1.0, "Count", "gateway")]
    assert emf_datapoints('{"level": "INFO", "message": "publish committed"}') == []
    assert emf_datapoints("START RequestId: 1 Version: $LATEST") == []
    # a dimension without a value: CloudWatch drops the metric
    line = json.loads(emf(PublishesCommitted=[1.0]))
    del line["service"]
    assert emf_datapoints(json.dumps(line)) == []


def test_the_store_is_what_moto_cloudwatch_answers_percentiles_included(aws, store):
    from infra import moto_patches

    cloudwatch = aws("cloudwatch")
    for value in range(1, 101):
        store.record("Notifyx", "PublishLatency", float(value), "Milliseconds", {"service": "gateway"})
    store.record("Notifyx", "PublishesCommitted", 1, "Count", {"service": "gateway"})
    now = datetime.now(UTC)
    window = {"StartTime": now - timedelta(minutes=5), "EndTime": now + timedelta(minutes=1)}
    listed = cloudwatch.list_metrics(Namespace="Notifyx")["Metrics"]
    assert {m["MetricName"] for m in listed} == {"PublishLatency", "PublishesCommitted"}
    stats = cloudwatch.get_metric_statistics(Namespace="Notifyx", MetricName="PublishLatency", Period=60,
                                             Statistics=["SampleCount", "Maximum", "Average"],
                                             Dimensions=[{"Name": "service", "Value": "gateway"}], **window)
    point = stats["Datapoints"][0]
    assert (point["SampleCount"], point["Maximum"], point["Average"]) == (100, 100, 50.5)
    query = [{"Id": "p", "MetricStat": {"Metric": {"Namespace": "Notifyx", "MetricName": "PublishLatency",
                                                    "Dimensions": [{"Name": "service", "Value": "gateway"}]},
                                         "Period": 60, "Stat": "p99"}}]
    patch = moto_patches.patch("cloudwatch-percentiles")
    patch.apply()
    try:
        values = cloudwatch.get_metric_data(MetricDataQueries=query, **window)["MetricDataResults"][0]["Values"]
    finally:
        patch.revert()
    assert values == [99.0]


def test_the_store_answers_timelines_windows_and_gauges(store):
    now = time.time()
    for second in range(10):
        store.record("AWS/Lambda", "Invocations", 2, "Count", {"FunctionName": "f"}, at=now - second)
        store.record("AWS/Lambda", "Invocations", 1, "Count", {"FunctionName": "g"}, at=now - second)
    assert store.window("AWS/Lambda", "Invocations", "Sum", {"FunctionName": "f"}, now - 10, now + 1) == 20
    assert store.window("AWS/Lambda", "Invocations", "Sum", None, now - 10, now + 1) == 30  # every function
    timeline = store.timeline("AWS/Lambda", "Invocations", "Sum", None, seconds=60, step=5, now=now)
    assert len(timeline) == 12 and sum(v for v in timeline if v) == 30 and timeline[0] is None
    store.record("AWS/SQS", "ApproximateNumberOfMessagesVisible", 7, "Count", {"QueueName": "q"})
    assert store.latest("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "q"}) == 7


def test_prometheus_exposition_names_labels_and_values(store):
    store.record("AWS/Lambda", "Duration", 12.0, "Milliseconds", {"FunctionName": 'a"b'})
    text = prometheus(store)
    assert "# TYPE aws_lambda_duration gauge" in text
    assert 'aws_lambda_duration{function_name="a\\"b",stat="sum"} 12' in text
    assert 'aws_lambda_duration{function_name="a\\"b",stat="p99"} 12' in text


def test_the_daemon_receives_segments_over_udp_into_moto_xray(aws):
    traces = xray.TraceStore(REGION, ACCOUNT)
    daemon = xray.DaemonReceiver(traces)
    try:
        trace_id, root = xray.new_trace_id(), xray.new_id()
        now = time.time()
        segment = {"id": root, "trace_id": trace_id, "name": "notifyx-GatewayActions", "origin": "AWS::Lambda",
                   "start_time": now - 0.2, "end_time": now}
        sub = {"id": xray.new_id(), "trace_id": trace_id, "parent_id": root, "type": "subsegment",
               "name": "## handler", "start_time": now - 0.15, "end_time": now - 0.01}
        host, port = daemon.address.rsplit(":", 1)
        sent = [json.dumps(segment), json.dumps(sub, indent=1)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            # dropped, not a document or not JSON (the daemon goes on: a bad header used to end its thread)
            for bad in (b'{"format":"json","version":1}\n{"id": "x"', b'{"format":"text"}\n{}', b"\xff\n{}",
                        b"[]\n{}", b"\n{}", xray.HEADER + b"\n\xff\xfe", xray.HEADER + b"\n[1]"):
                sender.sendto(bad, (host, int(port)))
            sender.sendto(xray.HEADER + b"\n" + sent[0].encode(), (host, int(port)))
            sender.sendto(b'{"version": 1, "format": "json"}\n' + sent[1].encode(), (host, int(port)))  # any header
        deadline = time.monotonic() + 5
        while traces.received < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        client = aws("xray")
        summaries = client.get_trace_summaries(StartTime=datetime.now(UTC) - timedelta(minutes=1),
                                               EndTime=datetime.now(UTC) + timedelta(minutes=1))["TraceSummaries"]
        assert [s["Id"] for s in summaries] == [trace_id]
        documents = client.batch_get_traces(TraceIds=[trace_id])["Traces"][0]["Segments"]
        assert {json.loads(d["Document"])["name"] for d in documents} == {"notifyx-GatewayActions", "## handler"}
        assert sorted(d["Document"] for d in documents) == sorted(sent)  # as sent
        rows = xray.waterfall(traces.get(trace_id))
        assert [(r["name"], r["depth"]) for r in rows] == [("notifyx-GatewayActions", 0), ("## handler", 1)]
        assert rows[1]["offset_ms"] == pytest.approx(50, abs=1)
    finally:
        daemon.close()


def test_trace_headers_parse_and_format_as_xray_writes_them():
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert xray.parse_header(header) == {"Root": "1-5759e988-bd862e3fe1be46a994272793",
                                         "Parent": "53995c3f42cd8ad8", "Sampled": "1"}
    assert xray.format_header("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", True) == header
    assert xray.parse_header(None) == {}


def test_metric_math_of_alarms():
    values = {"aborted": 2.0, "committed": 6.0, "none": None}
    assert alarms.evaluate_expression("100 * aborted / (aborted + committed)", values) == 25.0
    assert alarms.evaluate_expression("aborted / (committed - 6)", values) is None  # division by zero: no data
    assert alarms.evaluate_expression("none + aborted", values) is None
    with pytest.raises(ValueError):
        alarms.evaluate_expression("__import__('os')", values)


def test_alarms_change_state_with_the_data_and_notify_sns(aws, store):
    cloudwatch, sns, sqs = aws("cloudwatch"), aws("sns"), aws("sqs")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    cloudwatch.put_metric_alarm(AlarmName="dlq", Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
                                Dimensions=[{"Name": "QueueName", "Value": "dlq"}], Statistic="Maximum", Period=60,
                                EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                                TreatMissingData="notBreaching", AlarmActions=[topic], OKActions=[topic])
    cloudwatch.put_metric_alarm(AlarmName="abort-rate", EvaluationPeriods=1, Threshold=20,
                                ComparisonOperator="GreaterThanThreshold", Metrics=[
        {"Id": "a", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "Notifyx",
                                                                   "MetricName": "PublishesAborted"},
                                                        "Period": 300, "Stat": "Sum"}},
        {"Id": "c", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "Notifyx",
                                                                   "MetricName": "PublishesCommitted"},
                                                        "Period": 300, "Stat": "Sum"}},
        {"Id": "rate", "Expression": "100 * a / (a + c)", "ReturnData": True}])
    evaluator = alarms.AlarmEvaluator(store, sns, REGION, ACCOUNT)
    states = lambda: {a["AlarmName"]: a["StateValue"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}  # noqa: E731

    evaluator.evaluate_all()
    assert states() == {"dlq": "OK", "abort-rate": "INSUFFICIENT_DATA"}
    store.record("AWS/SQS", "ApproximateNumberOfMessagesVisible", 1, "Count", {"QueueName": "dlq"})
    store.record("Notifyx", "PublishesCommitted", 3, "Count")
    store.record("Notifyx", "PublishesAborted", 1, "Count")
    evaluator.evaluate_all()
    assert states() == {"dlq": "ALARM", "abort-rate": "ALARM"}
    alarm = cloudwatch.describe_alarms(AlarmNames=["dlq"])["MetricAlarms"][0]
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint(s) [1]")
    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    notice = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert (notice["AlarmName"], notice["NewStateValue"], notice["OldStateValue"]) == ("dlq", "ALARM", "OK")


# --------------------------------------------------------------------------- what the patches reach in moto
def test_moto_cloudwatch_serves_metric_providers_and_computes_statistics_where_the_patch_extends_it():
    from moto.cloudwatch.models import CloudWatchBackend, Statistics
    from moto.core.common_models import CloudWatchMetricProvider

    assert "CloudWatchMetricProvider.__subclasses__()" in inspect.getsource(CloudWatchBackend)
    assert issubclass(metrics.StoreMetricProvider, CloudWatchMetricProvider)
    assert list(inspect.signature(Statistics.get_statistics_for_type).parameters) == ["self", "stat"]
    assert "stats.get_statistics_for_type(stat)" in inspect.getsource(CloudWatchBackend.get_metric_data)


def test_moto_xray_keeps_traces_where_the_store_prunes_them():
    from moto.xray.models import SegmentCollection, XRayBackend

    assert "self._segment_collection = SegmentCollection()" in inspect.getsource(XRayBackend.__init__)
    assert "self._traces" in inspect.getsource(SegmentCollection.__init__)
    assert list(inspect.signature(XRayBackend.process_segment).parameters) == ["self", "doc"]
    # the TraceStore stores a segment as process_segment does, from the document it has parsed already
    stores = inspect.getsource(XRayBackend.process_segment)
    assert "data = json.loads(doc)" in stores and "segment = TraceSegment.from_dict(data, raw=doc)" in stores
    assert "self._segment_collection.put_segment(segment)" in stores


def test_moto_step_functions_take_a_trace_header_and_report_the_end_where_the_patches_hook():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_lambda
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    assert "trace_header" in inspect.signature(StepFunctionsParserBackend.start_execution).parameters
    assert "self.stepfunction_backend.start_execution(" in inspect.getsource(StepFunctionResponse.start_execution)
    assert list(inspect.signature(lambda_eval_utils.execute_lambda_function_integration).parameters) == [
        "env", "parameters", "region", "state_credentials"]
    assert "lambda_eval_utils.execute_lambda_function_integration(" in inspect.getsource(state_task_service_lambda)
    # a DynamoDB task's call, which its subsegment times (the first argument after self is the environment)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
        StateTaskServiceDynamoDB)

    assert list(inspect.signature(StateTaskServiceDynamoDB._eval_service_task).parameters)[:2] == ["self", "env"]
    assert "_eval_service_task(" in inspect.getsource(
        StateTaskServiceDynamoDB.__mro__[1]._eval_execution)
    assert "_reflect_execution_status()" in inspect.getsource(BaseExecutionWorkerCommunication.terminated)


def test_moto_sqs_backend_methods_the_counts_wrap():
    from moto.sqs.models import SQSBackend

    for name in ("send_message", "receive_message", "delete_message"):
        assert list(inspect.signature(getattr(SQSBackend, name)).parameters)[1] == "queue_name", name
    assert "self.send_message(" in inspect.getsource(SQSBackend.send_message_batch)
    assert "self.delete_message(" in inspect.getsource(SQSBackend.delete_message_batch)


def test_every_observability_patch_applies_and_reverts_to_motos_original():
    from infra import moto_patches

    originals = {p.name: vars(p.owner()).get(p.attr) for p in moto_patches.OBSERVABILITY_PATCHES}
    moto_patches.apply_observability()
    try:
        for p in moto_patches.OBSERVABILITY_PATCHES:
            assert vars(p.owner())[p.attr] is not originals[p.name], p.name
    finally:
        moto_patches.revert_observability()
    for p in moto_patches.OBSERVABILITY_PATCHES:
        assert vars(p.owner())[p.attr] is originals[p.name], p.name

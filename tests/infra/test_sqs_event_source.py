"""SQS event sources with Lambda's semantics, against a real moto server and a real handler module."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from infra.emulator import Emulator
from infra.pollers import SqsEventSource, SqsEventSourceSpec, batch_item_failures, is_throttle, sqs_record

FIXTURES = Path(__file__).parent / "fixtures" / "h6"
sys.path.insert(0, str(FIXTURES))
import h6_queue_worker as worker  # noqa: E402

for _key, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(_key, _value)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def emulator():
    emulator = Emulator(port=0).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def sqs(emulator):
    return boto3.client("sqs", endpoint_url=emulator.endpoint, region_name="us-east-1",
                        config=Config(max_pool_connections=20))


@pytest.fixture(autouse=True)
def fresh_worker():
    worker.reset()
    yield
    worker.reset()


@pytest.fixture
def sources():
    started: list[SqsEventSource] = []
    yield started
    for source in started:
        source.stop()


def invoke(function_name: str, event: dict):
    """Run the fixture handler as Lambda would: the event JSON round-tripped, raising on a function error."""
    assert function_name == "worker"
    return worker.handler(json.loads(json.dumps(event)), None)


def make_queue(sqs, visibility: int = 1, max_receive_count: int | None = None) -> tuple[str, str, str | None]:
    """A fresh queue (url, arn, dlq url) with the given visibility timeout and optional redrive."""
    name = f"q-{uuid.uuid4().hex[:8]}"
    attributes = {"VisibilityTimeout": str(visibility)}
    dlq_url = None
    if max_receive_count is not None:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn,
                                                  "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq_url


def send(sqs, url: str, orders: list[dict]) -> list[str]:
    """Send one message per order (in batches of 10); returns the message ids in order."""
    ids = []
    for start in range(0, len(orders), 10):
        chunk = orders[start:start + 10]
        response = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(order)} for i, order in enumerate(chunk)])
        assert not response.get("Failed")
        by_entry = {entry["Id"]: entry["MessageId"] for entry in response["Successful"]}
        ids.extend(by_entry[str(i)] for i in range(len(chunk)))
    return ids


def depth(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def drain(sqs, url: str) -> list[dict]:
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return messages
        messages.extend(got)


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def start_source(sources, sqs, url, arn, *, invoke_fn=invoke, function="worker", batch_size=10,
                 window=0.0, max_concurrency=None, report=True) -> SqsEventSource:
    spec = SqsEventSourceSpec(function=function, queue_arn=arn, queue_url=url, batch_size=batch_size,
                              batching_window=window, maximum_concurrency=max_concurrency,
                              report_batch_item_failures=report)
    source = SqsEventSource(spec, invoke_fn, sqs).start()
    sources.append(source)
    return source


# ---------------------------------------------------------------------------------------------- concurrency
def test_handlers_in_flight_reach_but_never_exceed_maximum_concurrency(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, batch_size=2, max_concurrency=3)
    ids = send(sqs, url, [{"sleep": 0.15, "n": i} for i in range(60)])

    wait_until(lambda: source.stats["succeeded"] == 60, timeout=30)

    assert worker.max_in_flight == 3           # observed by the handler itself
    assert source.stats["max_in_flight"] == 3
    assert source.stats["max_pollers"] <= 3
    assert sorted(d[0] for d in worker.deliveries) == sorted(ids)    # each exactly once
    assert source.stats["failed"] == 0
    assert depth(sqs, url) == 0


def test_idle_pollers_retire_down_to_one(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, batch_size=1, max_concurrency=4)
    send(sqs, url, [{"sleep": 0.1} for _ in range(20)])
    wait_until(lambda: source.stats["succeeded"] == 20)
    assert source.stats["max_pollers"] == 4
    wait_until(lambda: source.stats["pollers"] == 1, timeout=10)


def test_without_maximum_concurrency_pollers_stay_under_the_local_bound(sqs, sources):
    from infra.pollers import LOCAL_MAX_POLLERS

    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, batch_size=1, max_concurrency=None)
    send(sqs, url, [{"sleep": 0.2} for _ in range(30)])
    wait_until(lambda: source.stats["succeeded"] == 30, timeout=30)
    assert 2 < worker.max_in_flight <= LOCAL_MAX_POLLERS


# ---------------------------------------------------------------------------------------------- batching
def test_batch_size_is_respected(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    send(sqs, url, [{"n": i} for i in range(10)])
    source = start_source(sources, sqs, url, arn, batch_size=4, max_concurrency=2)
    wait_until(lambda: source.stats["succeeded"] == 10)
    sizes = [len(e["Records"]) for e in worker.events]
    assert max(sizes) == 4 and sum(sizes) == 10


def test_batching_window_gathers_messages_sent_within_it(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, batch_size=10, window=2, max_concurrency=2)
    time.sleep(0.2)
    first_sent = time.monotonic()
    for i in range(3):
        send(sqs, url, [{"n": i}])
        time.sleep(0.3)
    wait_until(lambda: source.stats["succeeded"] == 3)
    invoked_after = time.monotonic() - first_sent

    assert [len(e["Records"]) for e in worker.events] == [3]
    assert 1.8 <= invoked_after < 4.5


def test_full_batch_does_not_wait_for_the_window(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, batch_size=5, window=20, max_concurrency=2)
    time.sleep(0.2)
    sent = time.monotonic()
    send(sqs, url, [{"n": i} for i in range(5)])
    wait_until(lambda: source.stats["succeeded"] == 5, timeout=10)
    assert time.monotonic() - sent < 5
    assert [len(e["Records"]) for e in worker.events] == [5]


def test_without_a_window_a_lone_message_is_invoked_at_once(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, batch_size=10, window=0, max_concurrency=2)
    time.sleep(0.2)
    sent = time.monotonic()
    send(sqs, url, [{"n": 1}])
    wait_until(lambda: source.stats["succeeded"] == 1)
    assert time.monotonic() - sent < 2.0


# ---------------------------------------------------------------------------------------------- failures
def test_partial_batch_failure_deletes_only_the_successes(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    ids = send(sqs, url, [{}, {}, {"fail": True}, {}, {}])
    source = start_source(sources, sqs, url, arn, batch_size=5, max_concurrency=2)
    wait_until(lambda: source.stats["succeeded"] == 4 and source.stats["failed"] == 1)
    source.stop()

    assert [len(e["Records"]) for e in worker.events] == [5]
    assert depth(sqs, url) == 1                           # the failed one stays, invisible for 30 s
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=worker.events[0]["Records"][2]["receiptHandle"],
                                  VisibilityTimeout=0)
    left = drain(sqs, url)
    assert [m["MessageId"] for m in left] == [ids[2]]


def test_without_report_batch_item_failures_a_returned_failure_list_is_ignored(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    send(sqs, url, [{}, {"fail": True}])
    source = start_source(sources, sqs, url, arn, batch_size=5, max_concurrency=2, report=False)
    wait_until(lambda: source.stats["succeeded"] == 2)
    assert source.stats["failed"] == 0
    assert depth(sqs, url) == 0


def test_an_exception_fails_the_whole_batch_and_it_is_redelivered(sqs, sources):
    url, arn, dlq = make_queue(sqs, visibility=1, max_receive_count=2)
    ids = send(sqs, url, [{}, {}, {"raise": True}, {}])
    source = start_source(sources, sqs, url, arn, batch_size=4, max_concurrency=2)
    wait_until(lambda: depth(sqs, dlq) == 4, timeout=20)

    assert source.stats["succeeded"] == 0
    counts = sorted(d[2] for d in worker.deliveries)
    assert counts == [1, 1, 1, 1, 2, 2, 2, 2]          # delivered twice (maxReceiveCount), then dead-lettered
    assert sorted(m["MessageId"] for m in drain(sqs, dlq)) == sorted(ids)
    assert depth(sqs, url) == 0


def test_failing_messages_end_in_the_dlq_after_max_receive_count_and_nothing_is_lost(sqs, sources):
    url, arn, dlq = make_queue(sqs, visibility=1, max_receive_count=3)
    orders = [{"n": i, "fail": i in (3, 7)} for i in range(10)]
    ids = send(sqs, url, orders)
    source = start_source(sources, sqs, url, arn, batch_size=3, max_concurrency=2)
    wait_until(lambda: depth(sqs, dlq) == 2, timeout=25)
    source.stop()

    failing = {ids[3], ids[7]}
    receive_counts = {i: sorted(d[2] for d in worker.deliveries if d[0] == i) for i in failing}
    assert receive_counts == {i: [1, 2, 3] for i in failing}
    dead = drain(sqs, dlq)
    assert {m["MessageId"] for m in dead} == failing
    assert source.stats["succeeded"] == 8
    delivered_ok = {d[0] for d in worker.deliveries} - failing
    assert delivered_ok == set(ids) - failing
    assert depth(sqs, url) == 0


def test_malformed_batch_item_failures_fail_the_whole_batch():
    ids = {"a", "b"}
    assert batch_item_failures(None, ids) == set()
    assert batch_item_failures({}, ids) == set()
    assert batch_item_failures({"batchItemFailures": None}, ids) == set()
    assert batch_item_failures({"batchItemFailures": []}, ids) == set()
    assert batch_item_failures({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    for malformed in ("ok", [], {"batchItemFailures": "b"}, {"batchItemFailures": [{"itemIdentifier": ""}]},
                      {"batchItemFailures": [{"itemIdentifier": None}]}, {"batchItemFailures": [{"id": "a"}]},
                      {"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"batchItemFailures": ["a"]}):
        assert batch_item_failures(malformed, ids) is None, malformed


def test_a_malformed_response_leaves_every_message_in_the_queue(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    send(sqs, url, [{}, {}])

    def answers_badly(function_name, event):
        worker.handler(event, None)
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}

    source = start_source(sources, sqs, url, arn, invoke_fn=answers_badly, batch_size=2, max_concurrency=2)
    wait_until(lambda: source.stats["failed"] == 2)
    assert source.stats["succeeded"] == 0
    assert depth(sqs, url) == 2


# ---------------------------------------------------------------------------------------------- records
def test_records_are_shaped_as_lambda_sends_them(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({}), MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "welcome"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    source = start_source(sources, sqs, url, arn, batch_size=1, max_concurrency=2)
    wait_until(lambda: source.stats["succeeded"] == 1)

    event = worker.events[0]
    assert list(event) == ["Records"]
    record = event["Records"][0]
    assert set(record) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"}
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1" and record["body"] == "{}"
    assert set(record["attributes"]) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                         "ApproximateFirstReceiveTimestamp"}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "welcome", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
    import hashlib
    assert record["md5OfBody"] == hashlib.md5(b"{}").hexdigest()  # noqa: S324 - SQS's own checksum


def test_record_without_message_attributes_has_no_attributes_checksum():
    record = sqs_record({"MessageId": "m", "ReceiptHandle": "r", "Body": "b", "MD5OfBody": "x",
                         "Attributes": {"SentTimestamp": "1", "Unrelated": "y"}},
                        "arn:aws:sqs:eu-west-1:123456789012:q")
    assert record["messageAttributes"] == {} and "md5OfMessageAttributes" not in record
    assert record["attributes"] == {"SentTimestamp": "1"} and record["awsRegion"] == "eu-west-1"


# ---------------------------------------------------------------------------------------------- lifecycle
def test_stop_is_prompt_when_idle(sqs, sources):
    url, arn, _ = make_queue(sqs)
    source = start_source(sources, sqs, url, arn, max_concurrency=2)
    time.sleep(0.3)
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 2.5          # one long poll (1 s) at most
    assert source.stats["pollers"] == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("sqs-poller-worker")]


def test_stop_waits_for_the_batch_in_flight(sqs, sources):
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, max_concurrency=2)
    send(sqs, url, [{"sleep": 1.0}])
    wait_until(lambda: source.stats["in_flight"] == 1)
    source.stop()
    assert source.stats["in_flight"] == 0 and source.stats["succeeded"] == 1
    assert depth(sqs, url) == 0


def test_a_disabled_mapping_does_not_poll(sqs, sources):
    url, arn, _ = make_queue(sqs)
    spec = SqsEventSourceSpec(function="worker", queue_arn=arn, queue_url=url, batch_size=1, batching_window=0,
                              maximum_concurrency=None, report_batch_item_failures=False, enabled=False)
    source = SqsEventSource(spec, invoke, sqs).start()
    sources.append(source)
    send(sqs, url, [{}])
    time.sleep(0.5)
    assert source.stats["pollers"] == 0 and worker.events == []
    assert depth(sqs, url) == 1


def test_throttled_invokes_are_retried_not_failed(sqs, sources):
    from infra.runtime import FunctionSpec, LambdaRuntime

    runtime = LambdaRuntime()
    runtime.register(FunctionSpec(name="worker", arn="arn:aws:lambda:us-east-1:123456789012:function:worker",
                                  handler="h6_queue_worker.handler", code_dir=FIXTURES, timeout=5,
                                  reserved_concurrency=1))
    url, arn, _ = make_queue(sqs, visibility=30)
    source = start_source(sources, sqs, url, arn, invoke_fn=runtime.invoke, batch_size=1, max_concurrency=3)
    send(sqs, url, [{"sleep": 0.1} for _ in range(12)])
    wait_until(lambda: source.stats["succeeded"] == 12, timeout=30)

    assert source.stats["throttled"] > 0 and source.stats["failed"] == 0
    assert worker.max_in_flight == 1              # the reserved concurrency, not the mapping's maximum
    assert depth(sqs, url) == 0


def test_is_throttle_recognises_lambda_429s():
    from botocore.exceptions import ClientError

    from infra.runtime import FunctionError, Throttled

    assert is_throttle(Throttled("Rate Exceeded"))
    assert is_throttle(ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke"))
    assert not is_throttle(FunctionError("RuntimeError", "boom"))
    assert not is_throttle(RuntimeError("TooManyRequestsException"))


@pytest.mark.parametrize("kwargs, message", [
    ({"maximum_concurrency": 1}, "MaximumConcurrency"),
    ({"maximum_concurrency": 1001}, "MaximumConcurrency"),
    ({"batch_size": 0}, "BatchSize"),
    ({"batch_size": 11, "queue_arn": "arn:aws:sqs:us-east-1:123456789012:q.fifo"}, "BatchSize"),
    ({"batch_size": 50}, "MaximumBatchingWindowInSeconds"),
    ({"batching_window": 301}, "MaximumBatchingWindowInSeconds"),
])
def test_mapping_limits_are_lambdas(kwargs, message):
    fields = {"function": "f", "queue_arn": "arn:aws:sqs:us-east-1:123456789012:q", "queue_url": "http://q",
              "batch_size": 10, "batching_window": 0, "maximum_concurrency": 2, "report_batch_item_failures": True}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SqsEventSourceSpec(**fields)

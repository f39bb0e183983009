"""Firehose delivery streams to S3 (fixtures/apps/click_firehose), as Firehose delivers (infra/firehose.py).

Records are buffered and delivered together when the interval passes or the buffer is full, transformed by the
stream's function (Ok, Dropped, ProcessingFailed: the failed ones under the error prefix as JSON lines), gzipped,
under the prefix and the UTC time path (or the prefix's own timestamp expressions); a Kinesis stream's records
are read and archived. Before 7 December the deployer refused AWS::KinesisFirehose::DeliveryStream, and moto
wrote each PutRecordBatch call at once as one object, untransformed and uncompressed.
"""
from __future__ import annotations

import base64
import gzip
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "click_firehose" / "template.yaml"


def objects(cloud, prefix: str) -> dict[str, bytes]:
    s3, bucket = cloud.client("s3"), cloud.physical_id("Archive")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_puts_are_buffered_transformed_gzipped_and_failed_records_kept_apart(cloud):
    firehose, name = cloud.client("firehose"), cloud.physical_id("Clicks")
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"home\n"}, {"Data": b"drop me\n"}])
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"bad click\n"})
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"cart\n"})
    assert objects(cloud, "clicks/") == {}  # buffered for the interval, not written per call
    delivered = wait_for(lambda: objects(cloud, "clicks/"), timeout=10)
    [(key, body)] = delivered.items()
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H/")
    assert key.startswith(f"clicks/{hour}{name}-1-") and key.endswith(".gz")
    assert gzip.decompress(body) == b"HOME\nCART\n"  # one object for the three calls, dropped and failed ones out
    [(error_key, errors)] = wait_for(lambda: objects(cloud, "errors/"), timeout=5).items()
    assert error_key.startswith(f"errors/processing-failed/{name}-1-")
    [failed] = [json.loads(line) for line in gzip.decompress(errors).decode().splitlines()]
    assert (failed["errorCode"], base64.b64decode(failed["rawData"])) == ("Lambda.ProcessingFailed", b"bad click\n")
    assert failed["lambdaArn"].endswith(":function:" + cloud.physical_id("Enrich"))


def test_a_kinesis_stream_is_read_and_archived_under_the_prefix_s_own_time_expression(cloud):
    kinesis, stream = cloud.client("kinesis"), cloud.physical_id("Feed")
    time.sleep(0.5)  # the stream's poller starts from the newest record, as Firehose does
    for data in (b"k1,", b"k2,"):
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey="p")
    delivered = wait_for(lambda: {k: v for k, v in objects(cloud, "raw/").items() if b"web.signups" not in v},
                         timeout=10)  # (the rule's events go to the same stream: test below)
    year = datetime.now(UTC).strftime("%Y")
    assert all(key.startswith(f"raw/{year}/{cloud.physical_id('Raw')}-1-") for key in delivered)
    assert b"".join(delivered[key] for key in sorted(delivered)) == b"k1,k2,"


def test_a_full_buffer_is_delivered_before_its_interval(cloud):
    firehose, name = cloud.client("firehose"), cloud.physical_id("Bulk")
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 600_000})
    time.sleep(0.5)
    assert objects(cloud, "bulk/") == {}  # 900 s interval, 1 MB buffer: not yet
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"y" * 600_000})
    [body] = wait_for(lambda: objects(cloud, "bulk/"), timeout=5).values()
    assert body == b"x" * 600_000 + b"y" * 600_000


def test_an_eventbridge_rule_delivers_its_events_to_a_delivery_stream(cloud):
    """A rule's target that is a delivery stream (before 7 December reported and not delivered): each event's JSON
    one record."""
    cloud.client("events").put_events(Entries=[{"Source": "web.signups", "DetailType": "signup",
                                                "Detail": json.dumps({"user": "ada"})}])

    def archived():
        return [body for body in objects(cloud, "raw/").values() if b"web.signups" in body]
    [body] = wait_for(archived, timeout=10)
    event = json.loads(body)
    assert (event["source"], event["detail"]) == ("web.signups", {"user": "ada"})


def test_a_log_groups_subscription_filter_archives_its_matching_events_through_a_delivery_stream(cloud):
    """CloudWatch Logs to Firehose: each delivery of matching events is a record of the gzipped batch, which the
    stream's processor unzips (moto wrote each delivery to S3 at once, past the stream's buffer and processor)."""
    cloud.client("firehose").put_record(DeliveryStreamName=cloud.physical_id("Clicks"), Record={"Data": b"logs\n"})
    group = "/aws/lambda/" + cloud.physical_id("Enrich")

    def archived():
        return b"".join(objects(cloud, "logs/").values()).decode("utf-8", "replace").splitlines()
    lines = wait_for(archived, timeout=15)
    # the processor's lines (the other tests' transformations are logged too): only what the filter matches
    assert lines and all(re.fullmatch(re.escape(group) + r" transforming \d+ records", line) for line in lines)

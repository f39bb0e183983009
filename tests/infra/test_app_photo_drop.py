"""Parity: an S3 app (fixtures/apps/photo_drop) deploys unmodified and its buckets notify as S3 does.

SAM's `S3` event invokes a function (asynchronously, as S3 invokes Lambda) for the uploads its prefix and suffix
filter match, with S3's record (the key URL-encoded, size, eTag, sequencer, who and whence); a deletion reaches the
bucket's queue (after the s3:TestEvent S3 sends when a queue is configured); EventBridge gets "Object Created"
on the default bus; a versioned bucket's delete marker and a version's deletion reach an SNS topic. Before, the
deployer refused NotificationConfiguration, and moto invoked functions synchronously, filtered on the raw key,
wrote records without sequencer or versionId, sent its EventBridge event to every rule, and no event for deletes in
a versioned bucket.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from racing import drain as queue_bodies
from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "photo_drop" / "template.yaml"


def seen(cloud):
    items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("SeenTable"))["Items"]
    return {item["id"]["S"]: (json.loads(item["event"]["S"]), int(item["bytes"]["N"])) for item in items}


def drain(cloud, logical_id, count, seconds=10.0):
    bodies = queue_bodies(cloud.client("sqs"), cloud.physical_id(logical_id), count, seconds)
    return [json.loads(body) for body in bodies]


def test_uploads_invoke_the_function_with_s3s_record_and_deletes_reach_the_queue(cloud):
    s3, bucket = cloud.client("s3"), cloud.physical_id("Photos")
    # the test event S3 sends when a configuration names a queue, before any object event
    [test_event] = drain(cloud, "Removed", 1)
    assert test_event["Event"] == "s3:TestEvent" and test_event["Bucket"] == bucket
    assert test_event["Service"] == "Amazon S3" and test_event["RequestId"] and test_event["HostId"]

    for key in ("uploads/notes.txt", "other/dog.jpg"):  # outside the filter: no invocation
        s3.put_object(Bucket=bucket, Key=key, Body=b"nope")
    put = s3.put_object(Bucket=bucket, Key="uploads/my cat (1).jpg", Body=b"meow" * 10)
    record, size = wait_for(lambda: seen(cloud).get("uploads/my cat (1).jpg"))
    assert size == 40 and len(seen(cloud)) == 1
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == "us-east-1" and record["eventTime"].endswith("Z")
    assert record["userIdentity"]["principalId"] and record["requestParameters"]["sourceIPAddress"]
    assert set(record["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    assert record["s3"]["bucket"]["name"] == bucket and record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert record["s3"]["configurationId"]
    obj = record["s3"]["object"]
    assert obj["key"] == "uploads/my+cat+%281%29.jpg"  # URL-encoded, "/" kept, a space as "+"
    assert obj["size"] == 40 and obj["eTag"] == put["ETag"].strip('"') and "versionId" not in obj
    assert len(obj["sequencer"]) >= 16 and int(obj["sequencer"], 16)

    s3.copy_object(Bucket=bucket, Key="uploads/copy.jpg",
                   CopySource={"Bucket": bucket, "Key": "uploads/my cat (1).jpg"})
    copied, _ = wait_for(lambda: seen(cloud).get("uploads/copy.jpg"))
    assert copied["eventName"] == "ObjectCreated:Copy"
    assert int(copied["s3"]["object"]["sequencer"], 16) > int(obj["sequencer"], 16)

    s3.delete_object(Bucket=bucket, Key="uploads/my cat (1).jpg")
    [removed] = drain(cloud, "Removed", 1)
    [deleted] = removed["Records"]
    assert deleted["eventName"] == "ObjectRemoved:Delete"
    assert set(deleted["s3"]["object"]) == {"key", "sequencer"}  # no size or eTag for a deletion
    assert int(deleted["s3"]["object"]["sequencer"], 16) > int(obj["sequencer"], 16)


def test_eventbridge_gets_object_created_on_the_default_bus(cloud):
    s3, bucket = cloud.client("s3"), cloud.physical_id("Photos")
    drain(cloud, "Created", 50, seconds=1)  # what the other test's writes sent
    put = s3.put_object(Bucket=bucket, Key="eb/report 1.csv", Body=b"a,b\n")
    [event] = [e for e in drain(cloud, "Created", 1) if e["detail"]["object"]["key"] == "eb/report 1.csv"]
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["resources"] == [f"arn:aws:s3:::{bucket}"] and event["account"] == "123456789012"
    assert event["time"].endswith("Z")
    detail = event["detail"]
    assert detail["bucket"] == {"name": bucket} and detail["reason"] == "PutObject"
    assert detail["object"]["etag"] == put["ETag"].strip('"') and detail["object"]["size"] == 4
    s3.delete_object(Bucket=bucket, Key="eb/report 1.csv")  # "Object Deleted": the rule's pattern does not match
    assert drain(cloud, "Created", 1, seconds=2) == []


def test_a_versioned_bucket_notifies_delete_markers_and_version_deletions(cloud):
    s3, bucket = cloud.client("s3"), cloud.physical_id("Archive")
    drain(cloud, "ArchiveRemoved", 1)  # the topic's s3:TestEvent
    first = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"v1")
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"v2")
    marker = s3.delete_object(Bucket=bucket, Key="doc.txt")
    s3.delete_object(Bucket=bucket, Key="doc.txt", VersionId=first["VersionId"])
    envelopes = drain(cloud, "ArchiveRemoved", 2)
    assert {e["Subject"] for e in envelopes} == {"Amazon S3 Notification"}
    records = [json.loads(e["Message"])["Records"][0] for e in envelopes]
    assert [(r["eventName"], r["s3"]["object"]["versionId"]) for r in records] == [
        ("ObjectRemoved:DeleteMarkerCreated", marker["VersionId"]), ("ObjectRemoved:Delete", first["VersionId"])]


def test_the_bucket_policy_is_kept_and_its_conditions_decide_which_statements_apply(cloud):
    s3, bucket = cloud.client("s3"), cloud.physical_id("Photos")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["DenyInsecureTransport", "LockedOverTls"]
    assert cloud.physical_id("PhotosPolicy") == bucket  # Ref: the bucket's name
    # the local endpoint stands for S3's TLS one: "deny without TLS" does not apply (the other tests' writes
    # passed), a deny conditioned on TLS does
    s3.put_object(Bucket=bucket, Key="open/a.txt", Body=b"a")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="locked/a.txt", Body=b"a")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_notification_to_a_destination_that_does_not_exist_is_refused(cloud):
    s3 = cloud.client("s3")
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_notification_configuration(Bucket=cloud.physical_id("Archive"), NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:no-such-queue",
                                     "Events": ["s3:ObjectCreated:*"]}]})
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert "Unable to validate the following destination configurations" in refused.value.response["Error"]["Message"]

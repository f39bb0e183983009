"""infra/persistence.py: the local cloud's state survives a clean stop and a crash (what the journal holds at the
moment of a kill -9: the state directory's files as they are on disk while the cloud runs).

The restart of a real `notifyx up` process after kill -9 is tests/e2e/test_fault_suite.py's.
"""
from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from infra import moto_patches, persistence
from infra.cloud import CloudError, LocalCloud

APP = Path(__file__).parent / "fixtures" / "apps" / "state_store" / "template.yaml"


def _start(state_dir: Path) -> LocalCloud:
    return LocalCloud(APP, static_dir=None, sandboxes="thread", state_dir=state_dir).start()


def _http_put_item(cloud: LocalCloud, table: str, item: dict) -> None:
    """A PutItem over HTTP, as another process sends it (the emulator's other path, beside DirectDynamoDB)."""
    request = urllib.request.Request(cloud.aws_endpoint + "/", data=json.dumps({"TableName": table, "Item": item})
                                     .encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=x"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test's own emulator
        assert answer.status == 200


def _write_everything(cloud: LocalCloud) -> dict:
    ddb, sqs, s3, ses = (cloud.client(s) for s in ("dynamodb", "sqs", "s3", "ses"))
    notes, counters = cloud.physical_id("Notes"), cloud.physical_id("Counters")
    for at in range(5):
        ddb.put_item(TableName=notes, Item={"owner": {"S": "ann"}, "at": {"N": str(at)}, "text": {"S": f"n{at}"},
                                            "blob": {"B": bytes([at, 0, 255])}, "tags": {"SS": ["a", "b"]}})
    ddb.delete_item(TableName=notes, Key={"owner": {"S": "ann"}, "at": {"N": "4"}})
    for _ in range(3):
        ddb.update_item(TableName=counters, Key={"id": {"S": "c"}}, UpdateExpression="ADD n :one",
                        ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.batch_write_item(RequestItems={counters: [{"PutRequest": {"Item": {"id": {"S": f"b{i}"}}}}
                                                  for i in range(3)]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": counters, "Item": {"id": {"S": "tx"}, "v": {"N": "1"}}}},
        {"Delete": {"TableName": counters, "Key": {"id": {"S": "b2"}}}}])
    with pytest.raises(ddb.exceptions.TransactionCanceledException):  # cancelled: nothing of it is kept
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": counters, "Item": {"id": {"S": "cancelled"}}}},
            {"ConditionCheck": {"TableName": counters, "Key": {"id": {"S": "c"}},
                                "ConditionExpression": "attribute_not_exists(id)"}}])
    _http_put_item(cloud, counters, {"id": {"S": "over-http"}})

    queue = cloud.physical_id("Jobs")  # a queue's Ref is its URL
    for body in ("j1", "j2", "j3", "j4"):
        sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes={
            "kind": {"DataType": "String", "StringValue": body}})
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=3)["Messages"]
    assert [m["Body"] for m in received] == ["j1", "j2", "j3"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])  # j1 done
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=received[1]["ReceiptHandle"],
                                  VisibilityTimeout=0)  # j2 handed back
    # j3 stays in flight: it comes back after its visibility timeout (2 s)

    bucket = cloud.physical_id("Files")
    s3.put_object(Bucket=bucket, Key="a/b.png", Body=b"\x89PNG...", ContentType="image/png",
                  Metadata={"who": "ann"})
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    sfn = cloud.client("stepfunctions")
    sfn.start_execution(stateMachineArn=cloud.physical_id("Slow"), name="running-at-the-crash", input='{"a": 1}')
    quick = sfn.start_execution(stateMachineArn=cloud.physical_id("Quick"), name="done", input="{}")["executionArn"]
    for _ in range(100):
        if sfn.describe_execution(executionArn=quick)["status"] != "RUNNING":
            break
        time.sleep(0.05)
    ses.verify_email_identity(EmailAddress="from@example.com")
    ses.send_email(Source="from@example.com", Destination={"ToAddresses": ["to@example.com"]},
                   Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "there"}}})
    return {"queue": queue}


def _check_everything(cloud: LocalCloud) -> None:
    ddb, sqs, s3 = (cloud.client(s) for s in ("dynamodb", "sqs", "s3"))
    notes, counters = cloud.physical_id("Notes"), cloud.physical_id("Counters")
    found = ddb.query(TableName=notes, KeyConditionExpression="#o = :o", ExpressionAttributeNames={"#o": "owner"},
                      ExpressionAttributeValues={":o": {"S": "ann"}})["Items"]
    assert [(i["at"]["N"], i["text"]["S"], i["blob"]["B"], sorted(i["tags"]["SS"])) for i in found] == [
        (str(at), f"n{at}", bytes([at, 0, 255]), ["a", "b"]) for at in range(4)]
    ids = sorted(i["id"]["S"] for i in ddb.scan(TableName=counters)["Items"])
    assert ids == ["b0", "b1", "c", "over-http", "tx"]
    assert ddb.get_item(TableName=counters, Key={"id": {"S": "c"}})["Item"]["n"] == {"N": "3"}
    # the counter keeps counting from there
    ddb.update_item(TableName=counters, Key={"id": {"S": "c"}}, UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    assert ddb.get_item(TableName=counters, Key={"id": {"S": "c"}})["Item"]["n"] == {"N": "4"}

    queue = cloud.physical_id("Jobs")  # a queue's Ref is its URL
    visible = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                  AttributeNames=["ApproximateReceiveCount"])["Messages"]
    bodies = sorted(m["Body"] for m in visible)
    assert "j4" in bodies and "j1" not in bodies
    if "j3" not in bodies:  # still in flight: it comes back after its visibility timeout (2 s), as on SQS
        time.sleep(2.2)
        bodies += [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    # maxReceiveCount is 1: a message received once before goes to the dead-letter queue at its next receive
    dead_url = cloud.physical_id("JobsDeadLetters")
    dead = [m["Body"] for m in sqs.receive_message(QueueUrl=dead_url, MaxNumberOfMessages=10)["Messages"]]
    assert "j2" in dead and sorted(set(bodies) | set(dead)) == ["j2", "j3", "j4"]
    j4 = next(m for m in visible if m["Body"] == "j4")
    assert j4["MessageAttributes"]["kind"]["StringValue"] == "j4"

    bucket = cloud.physical_id("Files")
    got = s3.get_object(Bucket=bucket, Key="a/b.png")
    assert got["Body"].read() == b"\x89PNG..." and got["ContentType"] == "image/png"
    assert got["Metadata"] == {"who": "ann"}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["a/b.png"]
    assert cloud.client("ses").get_send_quota()["SentLast24Hours"] == 1
    sfn = cloud.client("stepfunctions")
    slow = cloud.physical_id("Slow").replace(":stateMachine:", ":execution:") + ":running-at-the-crash"
    died = sfn.describe_execution(executionArn=slow)
    assert (died["status"], died["input"]) == ("ABORTED", '{"a": 1}')  # it died with the process
    done = sfn.describe_execution(executionArn=cloud.physical_id("Quick").replace(":stateMachine:", ":execution:")
                                  + ":done")
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"ok": True}
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):  # a name is still taken after the restart
        sfn.start_execution(stateMachineArn=cloud.physical_id("Quick"), name="done", input='{"other": 1}')


def test_state_survives_a_crash_and_a_clean_stop(tmp_path):
    state, crashed = tmp_path / "state", tmp_path / "crashed"
    cloud = _start(state)
    try:
        _write_everything(cloud)
        # what a kill -9 leaves: the files as they are now, with the cloud still running (no final snapshot)
        shutil.copytree(state, crashed)
    finally:
        cloud.stop()
    (crashed / persistence.LOCK).unlink()
    assert list(crashed.glob("journal-*.log")), "the writes are in the journal"
    # a crash in the middle of writing a record leaves half of it: that request was never answered
    journal = sorted(crashed.glob("journal-*.log"))[-1]
    with journal.open("ab") as out:
        out.write(persistence._HEADER.pack(1000) + b"torn")

    for directory in (crashed, state):  # after the crash, then after the clean stop
        cloud = _start(directory)
        try:
            assert cloud.store.restored["items"] == 9 and cloud.store.restored["objects"] == 1
            _check_everything(cloud)
        finally:
            cloud.stop()
    assert not moto_patches.PERSISTENCE_PATCHES[0].applied


def _cut_inside_the_last_record(crashed: Path) -> tuple:
    """A copy of a running cloud's state directory made as a crash while its last journal record was being
    written leaves it (the record cut 3 bytes short); that record, as it was whole."""
    (crashed / persistence.LOCK).unlink()
    journal = sorted(crashed.glob("journal-*.log"))[-1]
    records, length = persistence._read_records(journal)
    with journal.open("r+b") as out:
        out.truncate(length - 3)
    return records[-1]


def test_a_crash_keeps_a_transaction_whole_or_not_at_all(tmp_path):
    """The fault suite's kill -9 once fell between two items of a counter's commit (TransactWriteItems): the
    reservation came back committed and the total not. A request's items are one record: cut short, none is kept."""
    state, crashed = tmp_path / "state", tmp_path / "crashed"
    cloud = _start(state)
    try:
        ddb, counters = cloud.client("dynamodb"), cloud.physical_id("Counters")
        ddb.put_item(TableName=counters, Item={"id": {"S": "total"}, "n": {"N": "1"}})
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": counters, "Item": {"id": {"S": "reservation"}, "state": {"S": "committed"}}}},
            {"Update": {"TableName": counters, "Key": {"id": {"S": "total"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
        shutil.copytree(state, crashed)
    finally:
        cloud.stop()
    last = _cut_inside_the_last_record(crashed)
    assert last[0] == "request" and [r[0] for r in last[1]] == ["ddb", "ddb"]
    for directory, expected in ((crashed, ({"N": "1"}, None)), (state, ({"N": "2"}, {"S": "committed"}))):
        cloud = _start(directory)
        try:
            ddb, counters = cloud.client("dynamodb"), cloud.physical_id("Counters")
            total = ddb.get_item(TableName=counters, Key={"id": {"S": "total"}})["Item"]["n"]
            reservation = ddb.get_item(TableName=counters, Key={"id": {"S": "reservation"}}).get("Item")
            assert (total, reservation and reservation["state"]) == expected
        finally:
            cloud.stop()


def test_a_crash_keeps_an_s3_object_with_its_content_type_or_not_at_all(tmp_path):
    """moto stores a PutObject's bytes, then sets its metadata: one record each let a crash between them bring the
    object back without its Content-Type. One request is one record: cut short, the object is not kept."""
    state, crashed = tmp_path / "state", tmp_path / "crashed"
    cloud = _start(state)
    try:
        s3, bucket = cloud.client("s3"), cloud.physical_id("Files")
        s3.put_object(Bucket=bucket, Key="avatar.png", Body=b"\x89PNG", ContentType="image/png")
        shutil.copytree(state, crashed)
    finally:
        cloud.stop()
    last = _cut_inside_the_last_record(crashed)
    assert last[0] == "request" and [r[0] for r in last[1]] == ["s3", "s3-meta"]
    for directory, expected in ((crashed, None), (state, "image/png")):
        cloud = _start(directory)
        try:
            s3, bucket = cloud.client("s3"), cloud.physical_id("Files")
            kept = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            assert (s3.get_object(Bucket=bucket, Key="avatar.png")["ContentType"] if kept else None) == expected
        finally:
            cloud.stop()


def test_an_async_event_accepted_before_a_crash_runs_after_the_restart(tmp_path):
    """Lambda keeps an accepted asynchronous event (202) until it has run, up to its maximum age: durable state
    keeps the events not finished at a crash (or a clean stop) and the next start queues them again. The event
    here was running when the state was copied (a kill -9 then): it runs again, as Lambda may run one twice."""
    state, crashed = tmp_path / "state", tmp_path / "crashed"
    cloud = LocalCloud(APP, static_dir=None, sandboxes="process", state_dir=state).start()
    try:
        answer = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("Later"), InvocationType="Event",
                                               Payload=json.dumps({"id": "later", "seconds": 3}).encode())
        assert answer["StatusCode"] == 202
        shutil.copytree(state, crashed)  # the crash: the event is running
        assert list(cloud.store.events.values())[0][0] == cloud.physical_id("Later")
    finally:
        cloud.stop()  # stops its sandbox: the event never wrote its item
    (crashed / persistence.LOCK).unlink()
    for directory in (crashed, state):  # after the crash, then after the clean stop (its snapshot keeps it too)
        cloud = LocalCloud(APP, static_dir=None, sandboxes="process", state_dir=directory).start()
        try:
            assert cloud.store.restored["async_events"] == 1
            ddb, counters = cloud.client("dynamodb"), cloud.physical_id("Counters")
            assert "Item" not in ddb.get_item(TableName=counters, Key={"id": {"S": "later"}})
            deadline = time.monotonic() + 30
            while "Item" not in ddb.get_item(TableName=counters, Key={"id": {"S": "later"}}):
                assert time.monotonic() < deadline, "the event accepted before the crash never ran"
                time.sleep(0.2)
            for _ in range(50):  # ... and once it has, it is no longer kept
                if not cloud.store.events:
                    break
                time.sleep(0.1)
            assert not cloud.store.events
        finally:
            cloud.stop()
    cloud = LocalCloud(APP, static_dir=None, sandboxes="process", state_dir=state).start()
    try:
        assert cloud.store.restored["async_events"] == 0
    finally:
        cloud.stop()


def test_writes_during_background_compactions_are_all_kept(tmp_path, monkeypatch):
    """A journal past its limit is folded into a snapshot while writes go on; a crash at any point after keeps
    every acknowledged write (here: the files as they are, copied while the cloud runs)."""
    monkeypatch.setattr(persistence, "JOURNAL_LIMIT", 4096)
    state, crashed = tmp_path / "state", tmp_path / "crashed"
    cloud = _start(state)
    try:
        ddb, table = cloud.client("dynamodb"), cloud.physical_id("Counters")
        for i in range(300):
            ddb.put_item(TableName=table, Item={"id": {"S": f"k{i}"}, "pad": {"S": "x" * 200}})
            ddb.update_item(TableName=table, Key={"id": {"S": "total"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
            if i % 10 == 9:
                # in process, 600 writes take ~0.1 s, less than a compaction thread waits to be scheduled: a
                # pause now and then lets compactions run while the writes go on
                time.sleep(0.005)
        for _ in range(100):  # the last compaction finishes
            if not cloud.store._compacting:
                break
            time.sleep(0.05)
        assert cloud.store._journal_number > 5, "compactions ran"
        shutil.copytree(state, crashed)
    finally:
        cloud.stop()
    (crashed / persistence.LOCK).unlink()
    cloud = _start(crashed)
    try:
        ddb, table = cloud.client("dynamodb"), cloud.physical_id("Counters")
        ids = {i["id"]["S"] for i in ddb.scan(TableName=table)["Items"]}
        assert ids == {f"k{i}" for i in range(300)} | {"total"}
        assert ddb.get_item(TableName=table, Key={"id": {"S": "total"}})["Item"]["n"] == {"N": "300"}
    finally:
        cloud.stop()


def test_a_clean_stop_leaves_only_a_snapshot_and_start_folds_the_journal(tmp_path):
    cloud = _start(tmp_path)
    try:
        table = cloud.physical_id("Counters")
        cloud.client("dynamodb").put_item(TableName=table, Item={"id": {"S": "x"}})
        assert len(list(tmp_path.glob("journal-*.log"))) == 1
    finally:
        cloud.stop()
    assert [p.name for p in sorted(tmp_path.iterdir())] == [
        "journal-000002.log", persistence.LOCK, persistence.SNAPSHOT]
    assert (tmp_path / "journal-000002.log").stat().st_size == 0


def test_the_ephemeral_cloud_writes_nothing_and_journals_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with LocalCloud(APP, static_dir=None, sandboxes="thread") as cloud:
        assert cloud.store is None and persistence.store() is None
        assert not any(p.applied for p in moto_patches.PERSISTENCE_PATCHES)
        cloud.client("dynamodb").put_item(TableName=cloud.physical_id("Counters"), Item={"id": {"S": "x"}})
    assert list(tmp_path.iterdir()) == []


def test_one_cloud_per_state_directory_and_reset_waits_for_it(tmp_path):
    first = persistence.Store(tmp_path)
    first._take_directory()
    try:
        with pytest.raises(persistence.StateError, match="in use"):
            persistence.Store(tmp_path)._take_directory()
        with pytest.raises(persistence.StateError, match="running"):
            persistence.reset(tmp_path)
    finally:
        first._lock_file.close()
    assert persistence.reset(tmp_path) and not tmp_path.exists()
    assert persistence.reset(tmp_path) is False


def test_an_unreadable_snapshot_is_reported_not_guessed(tmp_path):
    (tmp_path / persistence.SNAPSHOT).write_bytes(b"not a snapshot")
    with pytest.raises(CloudError, match="notifyx reset"):
        _start(tmp_path)


def test_the_moto_internals_the_journal_relies_on():
    import inspect

    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.models import FakeKey, S3Backend
    from moto.sqs.models import Message, Queue, SQSBackend

    for op in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
        assert list(inspect.signature(getattr(DynamoHandler, op)).parameters) == ["self"], op
    assert "self.items = defaultdict(dict)" in inspect.getsource(
        __import__("moto.dynamodb.models.table", fromlist=["Table"]).Table.__init__)
    assert "self.attrs = LimitedSizeDict()" in inspect.getsource(Item.__init__)
    assert "self._messages.append(message)" in inspect.getsource(Queue.add_message)
    assert "self._messages = new_messages" in inspect.getsource(Queue.delete_message)
    assert "queue.dead_letter_queue.add_message(message)" in inspect.getsource(SQSBackend.receive_message)
    assert list(inspect.signature(SQSBackend.receive_message).parameters)[:2] == ["self", "queue_name"]
    assert list(inspect.signature(SQSBackend.change_message_visibility).parameters)[:3] == [
        "self", "queue_name", "receipt_handle"]
    assert {"visible_at", "approximate_receive_count", "receipt_handle"} <= set(vars(Message("i", "b")))
    assert list(inspect.signature(S3Backend.put_object).parameters)[:4] == ["self", "bucket_name", "key_name",
                                                                             "value"]
    assert "new_key.set_metadata(metadata)" in inspect.getsource(
        __import__("moto.s3.responses", fromlist=["S3Response"]).S3Response.put_object)
    assert list(inspect.signature(FakeKey.set_metadata).parameters)[:2] == ["self", "metadata"]
    # every S3 request is answered by one of these two (key_dispatch, bucket_dispatch, ambiguous_response)
    from moto.s3.responses import S3Response

    assert "cls().key_response(" in inspect.getsource(S3Response.key_dispatch)
    assert "cls().bucket_response(" in inspect.getsource(S3Response.bucket_dispatch)
    ambiguous = inspect.getsource(S3Response.ambiguous_response)
    assert "self.key_response(" in ambiguous and "self.bucket_response(" in ambiguous


def test_every_persistence_patch_applies_and_reverts():
    originals = {p.name: vars(p.owner()).get(p.attr) for p in moto_patches.PERSISTENCE_PATCHES}
    moto_patches.apply_persistence()
    try:
        for p in moto_patches.PERSISTENCE_PATCHES:
            assert vars(p.owner())[p.attr] is not originals[p.name], p.name
    finally:
        moto_patches.revert_persistence()
    for p in moto_patches.PERSISTENCE_PATCHES:
        assert vars(p.owner()).get(p.attr) is originals[p.name], p.name

"""What the local cloud keeps while it serves is bounded (Lambda's log events per log group), and its
garbage-collection policy (infra/collector.py) keeps long-lived data out of the collector's passes without
leaking cycles: they are reclaimed once the cloud is idle."""
from __future__ import annotations

import contextlib
import gc
import threading
import time
import weakref

import boto3
from moto import mock_aws

from infra import emulator
from infra.collector import GarbageKeeper


def test_lambda_log_groups_keep_the_newest_events_up_to_the_bound(monkeypatch):
    monkeypatch.setattr(emulator, "LOG_RETENTION_EVENTS", 100)
    now = int(time.time() * 1000)
    with mock_aws():
        for batch in range(30):
            stream = f"2026/12/01/[$LATEST]{batch % 3}"
            emulator.write_logs("/aws/lambda/fn", stream, [
                {"timestamp": now - 1000 + batch * 10 + i, "message": f"line {batch}.{i}"} for i in range(10)])
        logs = boto3.client("logs", region_name="us-east-1")
        events = []
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName="/aws/lambda/fn"):
            events += page["events"]
        assert 90 <= len(events) <= 100
        messages = {e["message"] for e in events}
        assert "line 29.9" in messages and "line 0.0" not in messages  # the oldest went first
        assert len(logs.describe_log_streams(logGroupName="/aws/lambda/fn")["logStreams"]) == 3


def test_lambda_log_groups_are_created_on_first_write():
    now = int(time.time() * 1000)
    with mock_aws():
        emulator.write_logs("/aws/lambda/new", "s", [{"timestamp": now, "message": "hello"}])
        emulator.write_logs("/aws/lambda/new", "s", [{"timestamp": now + 1, "message": "again"}])
        logs = boto3.client("logs", region_name="us-east-1")
        got = logs.get_log_events(logGroupName="/aws/lambda/new", logStreamName="s", startFromHead=True)
        assert [e["message"] for e in got["events"]] == ["hello", "again"]


class _Node:
    def __init__(self) -> None:
        self.other = self


def _frozen(obj: object) -> bool:
    """Whether the collector tracks `obj` in none of its three generations: it was frozen."""
    return gc.is_tracked(obj) and not any(o is obj for generation in range(3) for o in gc.get_objects(generation))


class FastKeeper(GarbageKeeper):
    FREEZE_SECONDS = 0.05
    # idle after a second without activity: a test thread descheduled for 0.2 s on a loaded 2-core machine (four
    # test workers and their clouds) looked idle at 0.1 s, and the cycle was reclaimed before the test looked. (Its
    # failures at 0.5 s on 7 December were more likely the keeper's old trigger, which frozen objects dying in the
    # worker kept from firing: found and fixed on 8 December.)
    IDLE_SECONDS = 1.0
    RECLAIM_AFTER = 1


def test_survivors_are_frozen_and_idle_time_reclaims_frozen_cycles():
    # every wait below is for an event, with a deadline far beyond it: with four test workers and their clouds on two
    # cores the keeper's thread can wait a long time for its turn
    ballast = [[n] for n in range(10_000)]  # frozen at the start, dropped later (a cloud's pruned data)
    activity = [0]
    keeper = FastKeeper(lambda: activity[0]).start()
    try:
        deadline = time.monotonic() + 30
        while not keeper.reclaimed and time.monotonic() < deadline:  # its first step: start-up's garbage
            time.sleep(0.01)
        assert keeper.reclaimed >= 1
        first = keeper.reclaimed  # one, unless this thread was descheduled for a whole idle period meanwhile
        frozen_before = gc.get_freeze_count()
        del ballast  # frozen objects that die leave the frozen count: it falls by more than what follows adds
        cycle = _Node()  # tracked, made after that count: the next freeze adds it
        collected = []
        ref = weakref.ref(cycle, lambda _: collected.append(True))

        made = []

        def busy(seconds: float) -> None:  # invocations keep coming, and make data: no idle-time collection
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                activity[0] += 1
                made.append([activity[0]])
                time.sleep(0.01)

        deadline = time.monotonic() + 30
        while not _frozen(cycle) and time.monotonic() < deadline:  # the keeper's next freeze
            busy(0.05)
        assert _frozen(cycle)
        frozen_after = gc.get_freeze_count()
        del cycle
        gc.collect()  # an automatic pass would not see it either: it is frozen
        busy(0.1)
        assert ref() is not None and not collected
        deadline = time.monotonic() + 30
        while not (collected and keeper.reclaimed > first) and time.monotonic() < deadline:  # idle now: reclaimed
            time.sleep(0.05)
        assert collected and ref() is None and keeper.reclaimed > first, (
            frozen_before, frozen_after, keeper._frozen_since_reclaim, [t.name for t in threading.enumerate()])
    finally:
        keeper.stop()
        gc.unfreeze()


def test_start_up_s_full_collection_waits_for_a_second_without_invocations():
    # it walks everything start-up made (230-280 ms with the interpreter held): requests in flight waited for it
    # when it ran a second after readiness whatever the load
    looks = [0]  # the keeper's looks at the activity, one a period
    busy = [True]

    def activity() -> int:  # while busy, an invocation in every period however this thread is scheduled
        looks[0] += 1
        return looks[0] if busy[0] else -1

    keeper = FastKeeper(activity).start()
    try:
        deadline = time.monotonic() + 30
        while looks[0] < 12 and time.monotonic() < deadline:  # ten periods and more, each with invocations
            time.sleep(0.01)
        assert looks[0] >= 12 and keeper.reclaimed == 0
        busy[0] = False
        deadline = time.monotonic() + 30  # quiet now: its next period but one
        while not keeper.reclaimed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert keeper.reclaimed == 1
    finally:
        keeper.stop()
        gc.unfreeze()


def test_a_freeze_counts_what_it_moves_without_walking_what_is_frozen(monkeypatch):
    # gc.get_freeze_count() walks every frozen object: in a cloud under load, ~33 ms of CPU a call with the
    # interpreter held (~330,000 objects spread over its heap), twice a second. The keeper counts the young
    # generations instead, which are what a freeze moves.
    def walks_the_frozen() -> int:
        raise AssertionError("the keeper walked the frozen generation")

    keeper = GarbageKeeper(lambda: 0)  # not started: its freeze is called directly
    monkeypatch.setattr(gc, "get_freeze_count", walks_the_frozen)
    young = [[n] for n in range(5_000)]  # tracked, made since the last collection
    try:
        keeper._freeze()
        assert _frozen(young[0]) and _frozen(young[-1])
        assert keeper._frozen_since_reclaim >= 5_000
    finally:
        gc.unfreeze()


def test_xray_keeps_the_newest_traces_up_to_the_segment_bound(monkeypatch):
    from moto.xray.models import xray_backends

    from infra import account
    from infra.observability import xray

    monkeypatch.setattr(xray, "MAX_SEGMENTS", 50)
    monkeypatch.setattr(xray.TraceStore, "PARSED", 2)
    with mock_aws():
        store = xray.TraceStore(account.REGION, account.ACCOUNT_ID)
        ids = [xray.new_trace_id() for _ in range(8)]
        now = time.time()
        for n, trace_id in enumerate(ids):
            root = xray.new_id()
            store.put({"id": root, "trace_id": trace_id, "name": f"root {n}", "start_time": now, "end_time": now + 1})
            for i in range(9):
                store.put({"id": xray.new_id(), "trace_id": trace_id, "parent_id": root, "type": "subsegment",
                           "name": f"sub {n}.{i}", "start_time": now + i / 100, "end_time": now + 0.5})
        assert list(store.traces) == ids[-5:] and store.segments == 50   # 10 segments a trace, 50 at most
        kept = xray_backends[account.ACCOUNT_ID][account.REGION]._segment_collection._traces
        assert set(kept) == set(ids[-5:])
        assert store.get(ids[0]) == []
        old = store.get(ids[3])   # not among the parsed newest two: read back from moto's raw documents
        assert sorted(d["name"] for d in old) == sorted(["root 3"] + [f"sub 3.{i}" for i in range(9)])
        assert [tid for tid, _ in store.recent(3)] == ids[:-4:-1]
        assert all(len(docs) == 10 for _, docs in store.recent(5))


@contextlib.contextmanager
def table_with_a_stream(view: str):
    """Table "t" with a stream of this view type, on moto with the emulator's stream patches applied."""
    from infra import moto_patches

    patches = [p for p in moto_patches.EMULATOR_PATCHES if p.name.startswith("dynamodb-stream-")]
    with mock_aws():
        for p in patches:
            p.apply()
        try:
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
            yield ddb
        finally:
            for p in reversed(patches):
                p.revert()


def test_a_stream_shard_keeps_its_newest_records_and_old_iterators_read_from_the_oldest(monkeypatch):
    from infra import moto_patches

    monkeypatch.setattr(moto_patches, "STREAM_RECORDS", 20)
    with table_with_a_stream("NEW_AND_OLD_IMAGES") as ddb:
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends["123456789012"]["us-east-1"].tables["t"].stream_shard
        first = shard.starting_sequence_number   # where a TRIM_HORIZON iterator taken now reads from
        for n in range(50):
            ddb.put_item(TableName="t", Item={"k": {"S": f"k{n}"}})
        kept = shard.get(shard.starting_sequence_number, 100)
        keys = [r["dynamodb"]["Keys"]["k"]["S"] for r in kept]
        assert 18 <= len(keys) <= 20 and keys == [f"k{n}" for n in range(50 - len(keys), 50)]
        numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in kept]
        assert numbers == list(range(first + 50 - len(keys), first + 50))   # numbering goes on
        assert shard.get(first, 100) == kept   # an iterator from before the trim reads from the oldest kept
        ddb.put_item(TableName="t", Item={"k": {"S": "after"}})
        latest = shard.get(numbers[-1] + 1, 100)
        assert [r["dynamodb"]["Keys"]["k"]["S"] for r in latest] == ["after"]
        assert int(latest[0]["dynamodb"]["SequenceNumber"]) == first + 50


def test_stream_shard_iterators_expire_and_an_expired_one_is_refused(monkeypatch):
    import pytest
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    from infra import moto_patches

    monkeypatch.setattr(moto_patches, "ITERATOR_SECONDS", 0.2)
    with table_with_a_stream("NEW_IMAGE") as ddb:
        arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
        streams = dynamodbstreams_backends["123456789012"]["us-east-1"]
        shard = streams.describe_stream(arn)["Shards"][0]["ShardId"]
        first = streams.get_shard_iterator(arn, shard, "TRIM_HORIZON").arn
        ddb.put_item(TableName="t", Item={"k": {"S": "a"}})
        answer = streams.get_records(first, 10)   # as a poller does: each read hands out the next iterator
        assert [r["dynamodb"]["NewImage"]["k"]["S"] for r in answer["Records"]] == ["a"]
        following = answer["NextShardIterator"]
        time.sleep(0.3)
        for _ in range(5):   # newer iterators issued after the first ones' 15 minutes (here 0.2 s)
            following = streams.get_records(following, 10)["NextShardIterator"]
        assert len(streams.shard_iterators) <= 6 and first not in streams.shard_iterators
        with pytest.raises(JsonRESTError) as expired:
            streams.get_records(first, 10)
        assert expired.value.error_type == "ExpiredIteratorException"
        assert streams.get_records(following, 10)["Records"] == []

"""Parity: a global table (fixtures/apps/global_orders), which the deployer refused: its replica in the local
cloud's one region is made as a table, with the replica's own settings, and the deploy says which replicas it leaves
out; its stream feeds a function as a table's does. SAM's CloudWatchLogs event (a subscription filter) and a
connector to the global table deploy with it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from racing import wait_for

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "global_orders" / "template.yaml"


def test_the_local_replica_is_a_table_with_the_replica_s_settings(cloud):
    ddb = cloud.client("dynamodb")
    table = ddb.describe_table(TableName="global-orders")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert len(cloud.stack.outputs["TableId"]) == 36  # a UUID
    assert ddb.describe_time_to_live(TableName="global-orders")["TimeToLiveDescription"]["AttributeName"] == "expires"
    backups = ddb.describe_continuous_backups(TableName="global-orders")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert {"Key": "team", "Value": "orders"} in ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert any(w.startswith("Orders: the replicas in eu-west-1 are not made") for w in cloud.stack.warnings)


def test_the_global_table_s_stream_feeds_its_function(cloud):
    cloud.client("dynamodb").put_item(TableName="global-orders", Item={"pk": {"S": "order-1"}})
    name = cloud.physical_id("OnChange")
    assert wait_for(lambda: cloud.runtime.stats()[name]["invocations"] >= 1, 20)


def test_the_audit_log_s_errors_reach_the_shipper(cloud):
    logs, name = cloud.client("logs"), cloud.physical_id("Shipper")
    logs.create_log_stream(logGroupName="/shop/audit", logStreamName="app")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/shop/audit", logStreamName="app", logEvents=[
        {"timestamp": now, "message": "INFO all good"}, {"timestamp": now, "message": "FATAL disk full"}])

    def shipped() -> list:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:  # the shipper has not logged yet
            return []
        return [json.loads(e["message"])["shipped"] for e in events if e["message"].startswith('{"shipped"')]
    assert wait_for(lambda: shipped() == [["FATAL disk full"]], 20)

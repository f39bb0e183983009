"""moto's per-model list of every instance it ever made (``instances_tracked``, for /moto-api/data.json) holds
them weakly with the emulator's patch (infra/moto_patches.py "moto-weakly-tracked-instances"): copies a request
made and dropped are freed, what the backends hold is still listed."""
from __future__ import annotations

import gc

import boto3
from moto import mock_aws

from infra import moto_patches


def item_copies_alive(reads: int) -> tuple[int, int]:
    """(moto Items listed by instances_tracked, Items in the table) after `reads` GetItems of a 3-item table."""
    from moto.dynamodb.models.dynamo_type import Item

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        for key in ("a", "b", "c"):
            ddb.put_item(TableName="t", Item={"pk": {"S": key}, "n": {"N": "1"}})
        for _ in range(reads):
            ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = n + :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
            ddb.query(TableName="t", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "b"}})
        gc.collect()
        listed = sum(1 for item in Item.instances_tracked if getattr(item, "hash_key", None) is not None)
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": str(1 + reads)}
        return listed, 3


def test_dropped_copies_are_freed_and_live_items_stay_listed():
    patch = moto_patches.patch("moto-weakly-tracked-instances")
    assert not patch.applied
    from moto.core.model_instances import reset_model_data

    reset_model_data()
    leaked, _ = item_copies_alive(50)
    assert leaked > 100  # moto's own list: every copy of every request, alive for good
    patch.apply()
    try:
        reset_model_data()  # moto makes plain lists again: the patch takes them over at the next instance
        listed, in_table = item_copies_alive(50)
    finally:
        patch.revert()
        reset_model_data()
    # the table's items (and nothing a request copied and dropped) are what is still listed
    assert in_table <= listed <= in_table + 3

"""The emulator's shortcuts for DynamoDB keep DynamoDB's observable behaviour: the direct path for item calls
(infra/emulator.py DirectDynamoDB) answers what the HTTP path answers, errors included, and TransactWriteItems
without moto's table backup (infra/moto_patches.py) is still all or nothing."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from in_process import over_http as http_only

from infra import account


def client(endpoint: str):
    return account.client("dynamodb", endpoint)


@pytest.fixture
def table(emulator_endpoint):
    ddb = client(emulator_endpoint)
    name = "items"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    yield name
    ddb.delete_table(TableName=name)


def both_paths(emulator_endpoint, call):
    """`call(client)` once through the direct path and once over HTTP (the direct path switched off)."""
    direct = call(client(emulator_endpoint))
    with http_only():
        over_http = call(client(emulator_endpoint))
    return direct, over_http


def without_metadata(answer):
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_item_calls_answer_what_the_http_path_answers(emulator_endpoint, table):
    ddb = client(emulator_endpoint)
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "blob": {"B": b"\x00\xff"},
                                        "tags": {"SS": ["x", "y"]}, "nested": {"M": {"l": {"L": [{"N": "2"}]}}}})
    direct, over_http = both_paths(emulator_endpoint, lambda c: c.get_item(TableName=table,
                                                                 Key={"pk": {"S": "a"}, "sk": {"N": "1"}}))
    assert without_metadata(direct) == without_metadata(over_http)
    assert direct["Item"]["blob"] == {"B": b"\x00\xff"}
    direct, over_http = both_paths(emulator_endpoint, lambda c: c.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
        ReturnConsumedCapacity="TOTAL"))
    assert without_metadata(direct) == without_metadata(over_http)
    assert direct["Count"] == 1 and direct["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_failed_condition_raises_the_same_error_with_the_old_item(emulator_endpoint, table):
    ddb = client(emulator_endpoint)
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "sk": {"N": "1"}, "v": {"N": "1"}})

    def conditional_put(c):
        with pytest.raises(ClientError) as caught:
            c.put_item(TableName=table, Item={"pk": {"S": "c"}, "sk": {"N": "1"}, "v": {"N": "2"}},
                       ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        return caught.value.response

    direct, over_http = both_paths(emulator_endpoint, conditional_put)
    assert direct["Error"] == over_http["Error"]
    assert direct["Error"]["Code"] == "ConditionalCheckFailedException"
    assert direct.get("Item") == over_http.get("Item")


def test_a_cancelled_transaction_changes_nothing_and_leaves_no_stream_record(emulator_endpoint, table):
    ddb = client(emulator_endpoint)
    ddb.put_item(TableName=table, Item={"pk": {"S": "t"}, "sk": {"N": "1"}, "v": {"N": "1"}})
    streams = account.client("dynamodbstreams", emulator_endpoint)

    def records() -> int:
        arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator)["Records"])

    before = records()
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}},
                        "UpdateExpression": "SET v = v + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "t"}, "sk": {"N": "2"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "t"}, "sk": {"N": "3"}},
                        "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    items = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "t"}})["Items"]
    assert items == [{"pk": {"S": "t"}, "sk": {"N": "1"}, "v": {"N": "1"}}]
    assert records() == before

    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}},
                    "UpdateExpression": "SET v = v + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": "t"}, "sk": {"N": "2"}}}},
    ])
    items = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "t"}})["Items"]
    assert [i["sk"]["N"] for i in items] == ["1", "2"] and items[0]["v"] == {"N": "2"}
    assert records() == before + 2


def test_a_client_of_another_region_is_answered_from_that_regions_tables(emulator_endpoint):
    """The direct path answers from the backend of the region the client signs for, as the HTTP path does
    (the credential scope of its SigV4 signature): a table in eu-west-1 is not one in the local cloud's region."""
    def elsewhere():
        return account.client("dynamodb", emulator_endpoint, region_name="eu-west-1")

    elsewhere().create_table(TableName="regional", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    try:
        elsewhere().put_item(TableName="regional", Item={"pk": {"S": "a"}})
        direct = elsewhere().get_item(TableName="regional", Key={"pk": {"S": "a"}})
        with http_only():
            over_http = elsewhere().get_item(TableName="regional", Key={"pk": {"S": "a"}})
        assert without_metadata(direct) == without_metadata(over_http) == {"Item": {"pk": {"S": "a"}}}
        with pytest.raises(ClientError) as refused:
            client(emulator_endpoint).get_item(TableName="regional", Key={"pk": {"S": "a"}})
        assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        elsewhere().delete_table(TableName="regional")

"""The emulator's Query and condition shortcuts (infra/moto_patches.py: a Query on the table's key reads one
partition; condition, filter and key-condition expressions are lexed once per string) leave moto's answers as
they were: the same calls, errors included, give the same answers with the patches applied and without."""
from __future__ import annotations

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from in_process import with_and_without

PATCHES = ("dynamodb-partition-query", "dynamodb-conditions-lexed-once")


def _tables(ddb) -> None:
    ddb.create_table(TableName="ranged", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"},
                                           {"AttributeName": "owner", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[{"IndexName": "by_owner", "Projection": {"ProjectionType": "ALL"},
                                              "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"},
                                                            {"AttributeName": "sk", "KeyType": "RANGE"}]}])
    ddb.create_table(TableName="flat", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for p in ("a", "b", "c"):
        for n in range(7):
            ddb.put_item(TableName="ranged", Item={"pk": {"S": p}, "sk": {"N": str(n)}, "owner": {"S": f"o{n % 2}"},
                                                   "tag": {"S": "even" if n % 2 == 0 else "odd"}})
        ddb.put_item(TableName="flat", Item={"pk": {"S": p}, "v": {"N": "1"}})


QUERIES = [
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "b"}}},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
     "ExpressionAttributeValues": {":p": {"S": "a"}, ":lo": {"N": "2"}, ":hi": {"N": "5"}}},
    {"TableName": "ranged", "KeyConditionExpression": "#k = :p AND sk > :lo", "ExpressionAttributeNames": {"#k": "pk"},
     "ExpressionAttributeValues": {":p": {"S": "c"}, ":lo": {"N": "3"}}, "ScanIndexForward": False},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "FilterExpression": "tag = :t",
     "ExpressionAttributeValues": {":p": {"S": "a"}, ":t": {"S": "odd"}}},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "Limit": 3, "ProjectionExpression": "sk",
     "ExpressionAttributeValues": {":p": {"S": "b"}}},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "Limit": 3, "ConsistentRead": True,
     "ExclusiveStartKey": {"pk": {"S": "b"}, "sk": {"N": "2"}}, "ExpressionAttributeValues": {":p": {"S": "b"}}},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "zz"}}},
    {"TableName": "ranged", "IndexName": "by_owner", "KeyConditionExpression": "#o = :o AND sk < :hi",
     "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":o": {"S": "o1"}, ":hi": {"N": "5"}}},
    {"TableName": "flat", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}},
    {"TableName": "flat", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nope"}}},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p AND", "ExpressionAttributeValues": {":p": {"S": "a"}}},
    {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "FilterExpression": "tag = = :t",
     "ExpressionAttributeValues": {":p": {"S": "a"}, ":t": {"S": "odd"}}},
]

CONDITIONAL_WRITES = [
    ("put_item", {"TableName": "flat", "Item": {"pk": {"S": "n"}}, "ConditionExpression": "attribute_not_exists(pk)"}),
    ("put_item", {"TableName": "flat", "Item": {"pk": {"S": "n"}}, "ConditionExpression": "attribute_not_exists(pk)"}),
    ("update_item", {"TableName": "flat", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = v + :one",
                     "ConditionExpression": "v < :max AND (attribute_exists(pk) OR NOT begins_with(pk, :x))",
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": "3"}, ":x": {"S": "q"}},
                     "ReturnValues": "ALL_NEW"}),
    ("update_item", {"TableName": "flat", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = v + :one",
                     "ConditionExpression": "v < :max AND (attribute_exists(pk) OR NOT begins_with(pk, :x))",
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": "2"}, ":x": {"S": "q"}},
                     "ReturnValues": "ALL_NEW"}),
    ("update_item", {"TableName": "flat", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :one",
                     "ConditionExpression": "#v IN (:one, :two)", "ExpressionAttributeNames": {"#v": "v"},
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}}}),
    ("delete_item", {"TableName": "flat", "Key": {"pk": {"S": "c"}}, "ConditionExpression": "v <> :one",
                     "ExpressionAttributeValues": {":one": {"N": "1"}}}),
    ("delete_item", {"TableName": "flat", "Key": {"pk": {"S": "c"}}, "ConditionExpression": "v = = :one",
                     "ExpressionAttributeValues": {":one": {"N": "1"}}}),
]


def run_calls() -> list:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _tables(ddb)
        answers = []
        for name, args in [("query", q) for q in QUERIES] + CONDITIONAL_WRITES:
            try:
                answer = getattr(ddb, name)(**args)
                answer.pop("ResponseMetadata", None)
                answers.append(("ok", answer))
            except ClientError as exc:
                answers.append(("error", exc.response["Error"]))
            except Exception as exc:  # noqa: BLE001 - moto raises some parse errors as they are; the same ones
                answers.append(("raised", f"{type(exc).__name__}: {exc}"))
        answers.append(("scan", ddb.scan(TableName="flat")["Items"]))
        return answers


def test_queries_and_conditional_writes_answer_the_same_with_and_without_the_patches():
    plain, patched, patched_again = with_and_without(PATCHES, run_calls)
    assert patched == plain and patched_again == plain
    assert [kind for kind, _ in plain].count("error") == 3 and [kind for kind, _ in plain].count("raised") == 2
    # the partitions really were read: "b" answers its 7 items in order, an absent key answers none
    assert [int(i["sk"]["N"]) for i in plain[0][1]["Items"]] == list(range(7))
    assert plain[6][1]["Items"] == []

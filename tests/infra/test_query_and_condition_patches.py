"""The emulator's Query and condition shortcuts (infra/moto_patches.py: a Query on the table's key reads one
partition; condition, filter and key-condition expressions are lexed once per string; a request's expression is
checked once per expression, names and value types) leave moto's answers as they were: the same calls, errors
included, give the same answers with the patches applied and without."""
from __future__ import annotations

import ast
import inspect

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from in_process import with_and_without

PATCHES = ("dynamodb-partition-query", "dynamodb-conditions-lexed-once", "dynamodb-conditions-checked-once")


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
    # the same expression again and again: a check kept for one call must answer what moto answers for the next
    *(("update_item", {"TableName": "flat", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :one",
                       "ConditionExpression": "#v BETWEEN :lo AND :hi", "ExpressionAttributeNames": {"#v": "v"},
                       "ExpressionAttributeValues": {":one": {"N": "1"}, ":lo": low, ":hi": {"N": "5"}}})
      for low in ({"N": "0"}, {"N": "2"}, {"NULL": True}, {"N": "0"})),
    ("update_item", {"TableName": "flat", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :one",
                     "ConditionExpression": "#v BETWEEN :lo AND :hi", "ExpressionAttributeNames": {"#v": "v"},
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":lo": {"N": "0"}}}),
    ("update_item", {"TableName": "flat", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :one",
                     "ConditionExpression": "#v BETWEEN :lo AND :hi",
                     "ExpressionAttributeNames": {"#v": "v", "#w": "w"},
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":lo": {"N": "0"}, ":hi": {"N": "5"}}}),
    # moto checks the expression before it looks for unused names: a NULL bound is refused first
    *(("update_item", {"TableName": "flat", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :one",
                       "ConditionExpression": "#v BETWEEN :lo AND :hi",
                       "ExpressionAttributeNames": {"#v": "v", "#w": "w"},
                       "ExpressionAttributeValues": {":one": {"N": "1"}, ":lo": low, ":hi": {"N": "5"}}})
      for low in ({"N": "0"}, {"NULL": True})),
    ("update_item", {"TableName": "flat", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :one",
                     "ConditionExpression": "#v BETWEEN :lo AND :hi", "ExpressionAttributeNames": {"#v": "w"},
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":lo": {"N": "0"}, ":hi": {"N": "5"}}}),
    *(("put_item", {"TableName": "flat", "Item": {"pk": {"S": key}}, "ConditionExpression": "attribute_not_exists(#k)",
                    "ExpressionAttributeNames": {"#k": "pk"}}) for key in ("m", "m", "o")),
    ("put_item", {"TableName": "flat", "Item": {"pk": {"S": "p"}}, "ConditionExpression": "attribute_not_exists(#k)",
                  "ExpressionAttributeNames": {"#k": "pk"}, "ExpressionAttributeValues": {":unused": {"S": "x"}}}),
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
    kinds = [kind for kind, _ in plain]
    assert kinds.count("error") == 8 and kinds.count("raised") == 5, kinds
    # the repeated BETWEEN: a NULL bound is refused after a numeric one passed, and a missing value, an unused
    # name and a name with another target are answered as such, whatever was checked before
    repeated = plain[len(QUERIES) + 7:-1]  # the last: a scan of the table
    assert [kind for kind, _ in repeated] == ["ok", "error", "raised", "ok", "raised", "error", "error", "raised",
                                              "error", "ok", "error", "ok", "ok"], repeated
    assert "BETWEEN, operand type: NULL" in repeated[2][1] and "unused" in repeated[5][1]["Message"]
    assert "unused" in repeated[6][1]["Message"] and "BETWEEN, operand type: NULL" in repeated[7][1]
    # the partitions really were read: "b" answers its 7 items in order, an absent key answers none
    assert [int(i["sk"]["N"]) for i in plain[0][1]["Items"]] == list(range(7))
    assert plain[6][1]["Items"] == []


def test_moto_reads_only_the_check_from_the_condition_parsers_its_responses_build():
    """"dynamodb-conditions-checked-once" answers parse() with nothing and keeps the placeholders found: that holds
    while every parser moto.dynamodb.responses makes with create_condition_expression_parser is used for
    ``.parse()`` as a statement and its ``expr_attr_names_found`` / ``expr_attr_values_found``, nothing else."""
    from moto.dynamodb import responses

    tree = ast.parse(inspect.getsource(responses))
    made = 0
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        parsers = {target.id for node in ast.walk(function) if isinstance(node, ast.Assign)
                   and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") ==
                   "create_condition_expression_parser" for target in node.targets if isinstance(target, ast.Name)}
        made += len(parsers)
        statements = {id(n.value.func) for n in ast.walk(function) if isinstance(n, ast.Expr)
                      and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute)}
        used = [node for node in ast.walk(function)
                if isinstance(node, ast.Name) and node.id in parsers and isinstance(node.ctx, ast.Load)]
        attributes = [node for node in ast.walk(function) if isinstance(node, ast.Attribute)
                      and isinstance(node.value, ast.Name) and node.value.id in parsers]
        assert len(attributes) == len(used), function.name  # never passed on, returned or compared as is
        for node in attributes:
            assert node.attr in ("expr_attr_names_found", "expr_attr_values_found") or (
                node.attr == "parse" and id(node) in statements), (function.name, node.attr)
    assert made >= 6  # put, delete, update, transact, query and scan checks

"""The emulator's UpdateExpression shortcuts (infra/moto_patches.py: one parse per expression string, the tree
copied without copy.deepcopy, the checks that read only the expression, its names and the table's keys run once
per tree, names and keys) leave moto's answers as they were: the same sequence of UpdateItem calls, errors
included, gives the same items and the same errors with the patches applied and without."""
from __future__ import annotations

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from in_process import with_and_without

PATCHES = ("dynamodb-ast-copy", "dynamodb-update-expressions-parsed-once", "dynamodb-expression-traversal",
           "dynamodb-expression-find-clauses", "dynamodb-update-checks-once")

CALLS = [
    ("SET #n = :v, #c = if_not_exists(#c, :zero) + :one", {"#n": "name", "#c": "count"},
     {":v": {"S": "a"}, ":zero": {"N": "0"}, ":one": {"N": "1"}}),
    ("SET #n = :v, #c = if_not_exists(#c, :zero) + :one", {"#n": "name", "#c": "count"},
     {":v": {"S": "b"}, ":zero": {"N": "0"}, ":one": {"N": "1"}}),
    ("ADD #s :set, #t :one", {"#s": "tags", "#t": "total"}, {":set": {"SS": ["x", "y"]}, ":one": {"N": "5"}}),
    ("ADD #s :set", {"#s": "tags"}, {":set": {"SS": ["z"]}}),
    ("DELETE #s :set", {"#s": "tags"}, {":set": {"SS": ["x"]}}),
    ("SET #l = list_append(if_not_exists(#l, :empty), :item)", {"#l": "log"},
     {":empty": {"L": []}, ":item": {"L": [{"S": "first"}]}}),
    ("SET #l = list_append(#l, :item)", {"#l": "log"}, {":item": {"L": [{"S": "second"}]}}),
    ("SET #m = :map", {"#m": "meta"}, {":map": {"M": {"inner": {"M": {"deep": {"N": "1"}}}}}}),
    ("SET #m.#i.#d = #m.#i.#d + :one", {"#m": "meta", "#i": "inner", "#d": "deep"}, {":one": {"N": "1"}}),
    ("REMOVE #n, #l[0]", {"#n": "name", "#l": "log"}, None),
    ("SET #n = :v", {"#n": "name"}, None),                                  # :v not defined
    ("SET #missing.deep = :v", {"#missing": "nope"}, {":v": {"S": "x"}}),    # path into nothing
    ("SET #c = #c + :v", {"#c": "count"}, {":v": {"S": "not a number"}}),    # wrong operand type
    ("ADD #c :one", {"#c": "count"}, {":one": {"N": "1"}}),
    ("SET #k = :v", {"#k": "pk"}, {":v": {"S": "other"}}),                   # the key cannot change
    ("SET #m = :v, #m.#i = :v", {"#m": "meta", "#i": "inner"}, {":v": {"S": "x"}}),  # overlapping paths
    ("SET #n = :v SET #c = :v", {"#n": "name", "#c": "count"}, {":v": {"S": "x"}}),  # two SET clauses
    ("SET #n = size(#l), #e = :e", {"#n": "name", "#l": "log", "#e": "empty"}, {":e": {"S": ""}}),
    # an expression that passed, again with names that make it update the key, or overlap: the checks that read
    # only the expression, its names and the table's keys must run again for other names
    ("SET #a = :v, #b = :v", {"#a": "first", "#b": "second"}, {":v": {"S": "x"}}),
    ("SET #a = :v, #b = :v", {"#a": "first", "#b": "pk"}, {":v": {"S": "x"}}),       # the key cannot change
    ("SET #a = :v, #b = :v", {"#a": "first", "#b": "first"}, {":v": {"S": "y"}}),    # the same path twice
    ("SET #a = :v, #b = :v", {"#a": "first", "#b": "second"}, {":v": {"S": "z"}}),
    ("SET #n = :v SET #c = :v", {"#n": "name", "#c": "count"}, {":v": {"S": "x"}}),  # two SET clauses, again
    # an expression whose value check failed once passes later: nothing about the values is remembered
    ("SET #c = #c + :v", {"#c": "count"}, {":v": {"S": "not a number"}}),
    ("SET #c = #c + :v", {"#c": "count"}, {":v": {"N": "2"}}),
]


def run_calls() -> list:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        answers = []
        for expression, names, values in CALLS:
            args = {"TableName": "t", "Key": {"pk": {"S": "k"}}, "UpdateExpression": expression,
                    "ExpressionAttributeNames": names, "ReturnValues": "ALL_NEW"}
            if values:
                args["ExpressionAttributeValues"] = values
            try:
                answers.append(("ok", ddb.update_item(**args)["Attributes"]))
            except ClientError as exc:
                answers.append(("error", exc.response["Error"]))
        answers.append(("item", ddb.get_item(TableName="t", Key={"pk": {"S": "k"}})["Item"]))
        return answers


def test_update_items_answer_the_same_with_and_without_the_patches():
    plain, patched, patched_again = with_and_without(PATCHES, run_calls)
    assert patched == plain and patched_again == plain
    assert [kind for kind, _ in plain].count("error") == 10

"""JSON-protocol bodies dumped in one ``json.dumps`` and user agents kept per feature set (moto_patches,
"botocore-json-body-dumped-once", "botocore-user-agent-kept"): what botocore code they rely on, and requests
identical to botocore's own, byte for byte, or the same exception."""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import inspect

import pytest
from botocore import serialize, useragent, validate
from botocore.config import Config

from botocore_requests import client, empty_answer, normalized_user_agent, patches

PATCHES = ("botocore-json-body-dumped-once", "botocore-user-agent-kept")


def _patched(applied: bool):
    return patches(PATCHES, applied)


def _client(service: str, validation: bool = True, **kwargs):
    return client(service, config=Config(parameter_validation=validation), **kwargs)


def _seen(service: str, call, validation: bool = True, **kwargs) -> tuple:
    """What a before-call handler sees of one call (method, url, headers, body, host prefix), or the exception
    the call raised (its type and message)."""
    client = _client(service, validation, **kwargs)
    seen = []

    def answer(model, params, **_):
        headers = dict(params["headers"])
        headers["User-Agent"] = normalized_user_agent(headers.get("User-Agent", ""))
        seen.append((params["method"], params["url"], headers, params["body"], params.get("host_prefix")))
        return empty_answer(params["url"])

    client.meta.events.register_first("before-call", answer)
    try:
        call(client)
    except Exception as exc:  # noqa: BLE001 - the same exception is the point
        return ("raised", type(exc).__name__, str(exc))
    return seen[0]


ITEM = {"id": {"S": "u-1"}, "n": {"N": "12"}, "tags": {"SS": ["a", "b"]}, "ok": {"BOOL": True},
        "nil": {"NULL": True}, "text": {"S": "é ü 中 \U0001f600 \ud800 \"quoted\" \\ \n"},
        "deep": {"M": {"l": {"L": [{"N": "1"}, {"M": {}}]}}}}

CALLS = {
    "GetItem": ("dynamodb", lambda c: c.get_item(TableName="t", Key={"id": {"S": "a"}}, ConsistentRead=True)),
    "PutItem, every kind of value but binary": ("dynamodb", lambda c: c.put_item(
        TableName="t", Item=ITEM, ConditionExpression="attribute_not_exists(id)")),
    "UpdateItem with names and values": ("dynamodb", lambda c: c.update_item(
        TableName="t", Key={"id": {"S": "a"}}, UpdateExpression="SET #a = :v ADD #n :one REMOVE #r",
        ExpressionAttributeNames={"#a": "a", "#n": "n", "#r": "r"},
        ExpressionAttributeValues={":v": {"M": ITEM}, ":one": {"N": "1"}}, ReturnValues="ALL_NEW")),
    "PutItem with a binary value (bytes)": ("dynamodb", lambda c: c.put_item(
        TableName="t", Item={"id": {"S": "a"}, "png": {"B": b"\x89PNG\x00"}})),
    "PutItem with a binary value given as a string": ("dynamodb", lambda c: c.put_item(
        TableName="t", Item={"id": {"S": "a"}, "png": {"B": "not base64 yet"}})),
    "PutItem with a binary set": ("dynamodb", lambda c: c.put_item(
        TableName="t", Item={"id": {"S": "a"}, "blobs": {"BS": ["x", b"y"]}})),
    "PutItem with an attribute named B": ("dynamodb", lambda c: c.put_item(
        TableName="t", Item={"id": {"S": "a"}, "B": {"S": "b"}})),
    "Query with a limit": ("dynamodb", lambda c: c.query(
        TableName="t", KeyConditionExpression="#t = :t", ExpressionAttributeNames={"#t": "topic"},
        ExpressionAttributeValues={":t": {"S": "news"}}, Limit=25, ScanIndexForward=False)),
    "TransactWriteItems": ("dynamodb", lambda c: c.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {"id": {"S": "a"}}}},
        {"Update": {"TableName": "c", "Key": {"id": {"S": "b"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}], ClientRequestToken="tok")),
    "BatchGetItem": ("dynamodb", lambda c: c.batch_get_item(
        RequestItems={"t1": {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}]}})),
    "a parameter of the wrong type": ("dynamodb", lambda c: c.get_item(TableName="t", Key={"id": {"S": 5}})),
    "a parameter the operation lacks": ("dynamodb", lambda c: c.get_item(TableName="t", Key={}, Bogus=1)),
    "StartExecution": ("stepfunctions", lambda c: c.start_execution(
        stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:m", name="n", input='{"a": 1}')),
    "StartSyncExecution (a host prefix)": ("stepfunctions", lambda c: c.start_sync_execution(
        stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:m", input="{}")),
    **{f"PutScalingPolicy with a double of {value!r}": ("application-autoscaling", lambda c, v=value:
        c.put_scaling_policy(PolicyName="p", ServiceNamespace="dynamodb", ResourceId="table/t",
                             PolicyType="TargetTrackingScaling", ScalableDimension="dynamodb:table:WriteCapacityUnits",
        TargetTrackingScalingPolicyConfiguration={"TargetValue": v})) for value in (
        1.5, 70, float("nan"), float("inf"), decimal.Decimal("0.25"))},
    "SendMessage (query-compatible)": ("sqs", lambda c: c.send_message(
        QueueUrl="https://sqs.us-east-1.amazonaws.com/000000000000/q", MessageBody="m",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})),
    "SendMessage with a binary attribute": ("sqs", lambda c: c.send_message(
        QueueUrl="https://sqs.us-east-1.amazonaws.com/000000000000/q", MessageBody="m",
        MessageAttributes={"k": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})),
    "PutLogEvents": ("logs", lambda c: c.put_log_events(
        logGroupName="g", logStreamName="s", logEvents=[{"timestamp": 1764979200000, "message": "m"}])),
    "PutEvents with a datetime": ("events", lambda c: c.put_events(Entries=[
        {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": dt.datetime(2026, 12, 6, tzinfo=dt.UTC)}])),
    "PutEvents with a time given as a string": ("events", lambda c: c.put_events(Entries=[
        {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "2026-12-06T00:00:00Z"}])),
}

#: with parameter validation off (as PynamoDB runs botocore), values botocore would have refused reach the serializer
UNVALIDATED = {
    "a tuple for a list": lambda c: c.put_item(TableName="t", Item={"l": {"L": ({"N": "1"}, {"N": "2"})}}),
    "a set for a string set": lambda c: c.put_item(TableName="t", Item={"s": {"SS": {"a"}}}),
    "a number where a string goes": lambda c: c.get_item(TableName="t", Key={"id": {"N": 5}}),
    "an integer key in a map": lambda c: c.put_item(TableName="t", Item={"m": {"M": {1: {"S": "x"}}}}),
    "NaN": lambda c: c.get_item(TableName="t", Key={"id": {"S": float("nan")}}),
    "a Decimal": lambda c: c.get_item(TableName="t", Key={"id": {"N": decimal.Decimal("1.5")}}),
    "None": lambda c: c.get_item(TableName="t", Key={"id": {"S": "a"}}, ProjectionExpression=None),
    "a parameter the operation lacks": lambda c: c.get_item(TableName="t", Key={}, Bogus=1),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_the_request_is_the_one_botocore_makes(name):
    service, call = CALLS[name]
    with _patched(False):
        plain = _seen(service, call)
    with _patched(True):
        fast = _seen(service, call)
    assert fast == plain


@pytest.mark.parametrize("name", list(UNVALIDATED))
def test_unvalidated_parameters_make_the_request_or_the_error_botocore_makes(name):
    with _patched(False):
        plain = _seen("dynamodb", UNVALIDATED[name], validation=False)
    with _patched(True):
        fast = _seen("dynamodb", UNVALIDATED[name], validation=False)
    assert fast == plain


def test_a_nested_member_the_shape_lacks_reaches_the_service_unvalidated():
    """The one difference, documented on the patch: botocore's walk raises KeyError on an unknown nested member
    (with validation off); the dumped body carries it, and the service refuses it. Validated, both refuse it."""
    call = lambda c: c.get_item(TableName="t", Key={"id": {"X": "a"}})  # noqa: E731
    with _patched(False):
        assert _seen("dynamodb", call, validation=False)[:2] == ("raised", "KeyError")
        validated = _seen("dynamodb", call)
    with _patched(True):
        assert b'"X": "a"' in _seen("dynamodb", call, validation=False)[3]
        assert _seen("dynamodb", call) == validated and validated[1] == "ParamValidationError"


def test_the_user_agent_follows_the_features_of_each_call():
    """A paginated call adds its feature code to the user agent (the context's features), the next plain call
    does not: the kept strings are per feature set."""
    def user_agents(client) -> list[str]:
        agents = []

        def answer(params, **_):
            agents.append(normalized_user_agent(params["headers"]["User-Agent"]))
            return empty_answer(params["url"])

        client.meta.events.register_first("before-call", answer)
        client.get_item(TableName="t", Key={"id": {"S": "a"}})
        list(client.get_paginator("scan").paginate(TableName="t"))
        client.get_item(TableName="t", Key={"id": {"S": "a"}})
        list(client.get_paginator("scan").paginate(TableName="t"))
        return agents

    with _patched(False):
        plain = user_agents(_client("dynamodb"))
    with _patched(True):
        kept = user_agents(_client("dynamodb"))
    assert kept == plain and plain[0] == plain[2] != plain[1] == plain[3]


def test_a_client_config_change_gets_its_own_user_agent():
    with _patched(True):
        creator = _client("dynamodb")._user_agent_creator
        first = creator.to_string()
        other = creator.with_client_config(Config(user_agent_extra="notifyx-test"))
        assert "notifyx-test" in other.to_string() and "notifyx-test" not in creator.to_string()
        assert creator.to_string() == first


def _digest(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_the_botocore_code_the_patches_rely_on():
    """The equivalence argument (on the patches' docstrings) reads these functions. An upgrade of botocore that
    changes one fails here, to be read again."""
    with _patched(False):
        json_serializer = serialize.JSONSerializer
        assert {name: _digest(getattr(json_serializer, name)) for name in (
            "serialize_to_request", "_serialize", "_serialize_type_structure", "_serialize_type_map",
            "_serialize_type_list", "_default_serialize", "_serialize_type_timestamp", "_serialize_type_blob",
            "_serialize_type_float")} == {
            "serialize_to_request": "040af75bce3a010a", "_serialize": "d104af097ed7e7ad",
            "_serialize_type_structure": "f3a172f4cfb68b20", "_serialize_type_map": "1483b8c18581cbd6",
            "_serialize_type_list": "377ce0e3fed5cbc7", "_default_serialize": "97b704c28a007c89",
            "_serialize_type_timestamp": "a718f326c6433b6e", "_serialize_type_blob": "a1beb29eba3c63e5",
            "_serialize_type_float": "9cc1c2199064b5c0"}
        assert {name: _digest(getattr(useragent.UserAgentString, name)) for name in (
            "to_string", "_build_feature_metadata")} == {
            "to_string": "b4eccd8fb22dfdfd", "_build_feature_metadata": "8469635b40946a2b"}
    # validation runs before the serializer, which the patch replaces, so it still runs
    decorator = inspect.getsource(validate.ParamValidationDecorator.serialize_to_request)
    assert decorator.index("self._param_validator.validate(") < decorator.index(
        "self._serializer.serialize_to_request(")
    # the REST-JSON protocols (Lambda, @connections) serialize with BaseRestSerializer's method, not this one
    assert serialize.RestJSONSerializer.serialize_to_request is serialize.BaseRestSerializer.serialize_to_request

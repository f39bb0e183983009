"""The endpoint each botocore client resolves once per operation and endpoint inputs (moto_patches,
"botocore-endpoint-resolved-once"): what botocore code it relies on, and requests identical to botocore's own."""
from __future__ import annotations

import inspect

import pytest
from botocore.client import BaseClient
from botocore.hooks import EventAliaser, HierarchicalEmitter
from botocore.regions import EndpointRulesetResolver

from botocore_requests import client, empty_answer, normalized_user_agent, patches

PATCH = "botocore-endpoint-resolved-once"


def _client(service: str, **kwargs):
    return client(service, **kwargs)


def _requests(client, call, times: int = 3) -> list[tuple]:
    """What a before-call handler sees (url, headers, signing context, auth type, endpoint properties) on `times`
    calls."""
    seen = []

    def answer(model, params, context, **_):
        headers = dict(params["headers"])
        headers["User-Agent"] = normalized_user_agent(headers.get("User-Agent", ""))
        seen.append((params["url"], headers, dict(context.get("signing", {})), context.get("auth_type"),
                     context.get("endpoint_properties")))
        return empty_answer(params["url"])

    client.meta.events.register_first("before-call", answer)
    try:
        for _ in range(times):
            call(client)
    finally:
        client.meta.events.unregister("before-call", answer)
    return seen


def _patch(applied: bool):
    return patches((PATCH,), applied)


CALLS = {
    "dynamodb GetItem": ("dynamodb", {}, lambda c: c.get_item(TableName="t", Key={"id": {"S": "a"}})),
    "dynamodb BatchGetItem": ("dynamodb", {}, lambda c: c.batch_get_item(
        RequestItems={"t1": {"Keys": [{"id": {"S": "a"}}]}, "t2": {"Keys": [{"id": {"S": "b"}}]}})),
    "dynamodb TransactWriteItems": ("dynamodb", {}, lambda c: c.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {"id": {"S": "a"}}}}])),
    "lambda Invoke": ("lambda", {}, lambda c: c.invoke(FunctionName="f", Payload=b"{}")),
    "stepfunctions StartExecution": ("stepfunctions", {}, lambda c: c.start_execution(
        stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:m", input="{}")),
    "@connections PostToConnection": ("apigatewaymanagementapi", {"endpoint_url": "http://127.0.0.1:9/prod"},
                                      lambda c: c.post_to_connection(ConnectionId="c=", Data=b"x")),
    "sqs SendMessage": ("sqs", {"endpoint_url": "http://127.0.0.1:9"},
                        lambda c: c.send_message(QueueUrl="http://127.0.0.1:9/000000000000/q", MessageBody="m")),
    "s3 GetObject (S3 customizes the builtins: never remembered)": (
        "s3", {}, lambda c: c.get_object(Bucket="b", Key="k")),
}


def test_botocore_still_resolves_endpoints_where_the_patch_remembers_them():
    with _patch(False):  # a local cloud in this process applied it
        original = BaseClient._resolve_endpoint_ruleset
    assert list(inspect.signature(original).parameters) == [
        "self", "operation_model", "params", "request_context", "ignore_signing_region"]
    source = inspect.getsource(BaseClient._make_api_call)
    assert "self._resolve_endpoint_ruleset(" in source and "@with_current_context" in inspect.getsource(BaseClient)
    resolve = inspect.getsource(original)
    # what it does besides returning: the auth type and signing context (replayed on a hit)
    assert "request_context['auth_type'] = auth_type" in resolve and "request_context['signing']" in resolve
    assert callable(EndpointRulesetResolver._get_dynamic_context_params)
    assert "before-endpoint-resolution." in inspect.getsource(EndpointRulesetResolver._get_customized_builtins)
    # the handler list an event was last emitted with is in _lookup_cache, and registering a handler clears it
    emitter = HierarchicalEmitter()
    aliaser = EventAliaser(emitter)
    aliaser.emit("before-endpoint-resolution.dynamodb", builtins={})
    empty = emitter._lookup_cache.get(aliaser._alias_event_name("before-endpoint-resolution.dynamodb"))
    assert empty is not None and not empty
    aliaser.register("before-endpoint-resolution.*", lambda **_: None)
    assert emitter._lookup_cache.get("before-endpoint-resolution.dynamodb") is None
    client = _client("dynamodb")
    assert isinstance(client.meta.events, EventAliaser) and client._ruleset_resolver is not None
    assert client.meta.service_model.operation_model("BatchGetItem").operation_context_parameters


@pytest.mark.parametrize("name", list(CALLS))
def test_a_remembered_endpoint_makes_the_request_botocore_makes(name):
    service, kwargs, call = CALLS[name]
    with _patch(False):
        plain = _requests(_client(service, **kwargs), call)
    with _patch(True):
        remembered = _requests(_client(service, **kwargs), call)
    assert plain[0] == plain[1] == plain[2]
    assert remembered == plain  # the first call resolved, the next two were answered from what it kept


def test_an_endpoint_is_remembered_per_table_and_resolved_again_once_a_handler_may_change_it():
    with _patch(True):
        client = _client("dynamodb")
        assert _requests(client, lambda c: c.get_item(TableName="a", Key={"id": {"S": "1"}}), 2)
        _requests(client, lambda c: c.get_item(TableName="b", Key={"id": {"S": "1"}}), 2)
        [(inputs, kept, event)] = client._notifyx_endpoints.values()
        assert len(kept) == 2 and inputs == (("TableName",), ()) and event == "before-endpoint-resolution.dynamodb"

        def elsewhere(builtins, **_):
            builtins["SDK::Endpoint"] = "http://127.0.0.1:9"

        client.meta.events.register("before-endpoint-resolution.dynamodb", elsewhere)
        [after] = _requests(client, lambda c: c.get_item(TableName="a", Key={"id": {"S": "1"}}), 1)
        assert after[0] == "http://127.0.0.1:9/"
        client.meta.events.unregister("before-endpoint-resolution.dynamodb", elsewhere)
        [again] = _requests(client, lambda c: c.get_item(TableName="a", Key={"id": {"S": "1"}}), 1)
        assert again[0] == "https://dynamodb.us-east-1.amazonaws.com/"

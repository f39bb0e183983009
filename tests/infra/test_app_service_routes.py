"""An HTTP API's routes that call AWS services with no function between (fixtures/apps/service_routes: API Gateway's
"first-class" integrations, AWS_PROXY with an IntegrationSubtype): each call's effect is read back from the service,
and what API Gateway would refuse, or the local cloud cannot run, is refused before anything is deployed. Before 7
December every such integration was refused ("AWS service integrations are not supported"): 2 of the 131 Python
SAM templates of aws-samples/serverless-patterns used one."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from api_gateway import service_subtypes
from infra.deploy import Deployer, UnsupportedTemplate
from infra.template import expand

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "service_routes" / "template.yaml"


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def url(cloud, path: str) -> str:
    return cloud.endpoints["http_api"].rsplit("/", 1)[0] + path


def drain(cloud, logical_id: str, wanted: int = 1, timeout: float = 10.0) -> list[dict]:
    sqs = cloud.client("sqs")
    queue = cloud.physical_id(logical_id)
    found, deadline = [], time.monotonic() + timeout
    while len(found) < wanted and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageAttributeNames=["All"])
        for message in answer.get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            found.append(message)
    return found


def test_an_order_goes_into_the_queue_as_sent_with_its_attribute_and_comes_back_out(cloud):
    status, answer = call(url(cloud, "/shop/orders"), "POST", b'{"sku": "A-1", "note": "caf\xc3\xa9"}')
    assert status == 200
    sent = answer["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    status, answer = call(url(cloud, "/shop/orders?max=2"))
    message = answer["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]
    assert status == 200 and message["MessageId"] == sent
    assert json.loads(message["Body"]) == {"sku": "A-1", "note": "café"}
    assert message["MessageAttribute"]["Name"] == "channel"
    assert message["MessageAttribute"]["Value"]["StringValue"] == "web"


def test_a_parameter_the_service_refuses_is_the_clients_400_and_the_api_goes_on(cloud):
    status, answer = call(url(cloud, "/shop/orders?max=eleven"))
    assert status == 400 and "ErrorResponse" in answer
    status, _ = call(url(cloud, "/shop/orders?max=1"))
    assert status == 200


def test_a_lone_surrogate_from_a_body_path_is_the_services_400_not_a_500(cloud):
    status, answer = call(url(cloud, "/shop/clicks"), "POST", b'{"user": "\\ud800"}')  # Kinesis' PartitionKey
    assert status == 400 and "SerializationException" in json.dumps(answer)
    # SQS's form cannot carry one: SQS's own error for characters outside its set, without a call
    integration = service_subtypes.of("SQS-SendMessage", {"QueueUrl": "q", "MessageBody": "$request.body.note"})
    with pytest.raises(service_subtypes.Refused) as refused:
        service_subtypes.request_body(integration, {"QueueUrl": "q", "MessageBody": "\ud800"})
    assert (refused.value.status, refused.value.body["ErrorResponse"]["Error"]["Code"]) == \
        (400, "InvalidMessageContents")
    assert call(url(cloud, "/shop/orders?max=1"))[0] == 200


def test_an_event_from_a_header_and_a_body_path_reaches_the_buses_rule(cloud):
    status, answer = call(url(cloud, "/shop/events"), "POST", b'{"detail": {"n": 1}, "other": true}',
                          {"X-Kind": "viewed"})
    assert (status, answer["FailedEntryCount"]) == (200, 0)
    [message] = drain(cloud, "Seen")
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == ("shop.front", "viewed", {"n": 1})


def test_a_checkout_runs_the_express_workflow_and_answers_its_output(cloud):
    status, answer = call(url(cloud, "/shop/checkout"), "POST", b'{"item": "hat"}')
    assert (status, answer["status"]) == (200, "SUCCEEDED")
    assert json.loads(answer["output"]) == {"item": "hat", "total": 42}


def test_a_run_is_named_by_the_path_and_a_second_one_of_that_name_is_refused_by_step_functions(cloud):
    status, answer = call(url(cloud, "/shop/runs/run-1"), "PUT", b'{"a": 1}')
    assert status == 200 and answer["executionArn"].endswith(":run-1")
    status, answer = call(url(cloud, "/shop/runs/run-1"), "PUT", b'{"a": 2}')
    assert (status, answer["__type"]) == (400, "ExecutionAlreadyExists")


def test_a_click_goes_into_the_stream_keyed_by_a_body_path(cloud):
    body = b'{"user": "u-7", "x": 3}'
    status, answer = call(url(cloud, "/shop/clicks"), "POST", body)
    assert status == 200
    kinesis = cloud.client("kinesis")
    iterator = kinesis.get_shard_iterator(StreamName=cloud.physical_id("Clicks"), ShardId=answer["ShardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          StartingSequenceNumber=answer["SequenceNumber"])["ShardIterator"]
    [record, *_] = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert (record["Data"], record["PartitionKey"]) == (body, "u-7")
    # a body without the key's path: no PartitionKey, which Kinesis refuses (its 400, passed on)
    status, answer = call(url(cloud, "/shop/clicks"), "POST", b'not json \xed\xa0\x80')
    assert status == 400


def test_a_cloudformation_integration_resource_with_a_subtype_sends_the_mapped_query_string(cloud):
    status, _ = call(url(cloud, "/back/notes?note=hello"), "POST")
    assert status == 200
    assert [m["Body"] for m in drain(cloud, "Orders")] == ["hello"]


@pytest.mark.parametrize("subtype", ["AppConfig-GetConfiguration", "SQS-Dance"])
def test_subtypes_the_local_cloud_does_not_run_are_refused_before_the_deploy(tmp_path, subtype):
    text = TEMPLATE.read_text().replace("integrationSubtype: SQS-SendMessage\n", f"integrationSubtype: {subtype}\n", 1)
    template = tmp_path / "template.yaml"
    template.write_text(text)
    refusal = f"the integration subtype {subtype} is not run locally"
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert refusal in str(refused.value)


@pytest.mark.parametrize("replacement, refusal", [
    ("", "needs the request parameter(s) MessageBody"),
    ("        MessageBody: $request.querystring.note\n        Colour: blue\n", "has no request parameter 'Colour'"),
    ("        MessageBody: $request.querystring.note-$context.stage\n", "is not one the local cloud evaluates"),
])
def test_a_subtypes_parameters_are_checked_as_api_gateway_checks_them(tmp_path, replacement, refusal):
    text = TEMPLATE.read_text().replace("        MessageBody: $request.querystring.note\n", replacement, 1)
    template = tmp_path / "template.yaml"
    template.write_text(text)
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert [p.logical_id for p in refused.value.problems] == ["BackOrders"]
    assert refusal in str(refused.value)

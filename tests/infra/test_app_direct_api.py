"""REST API integrations of type AWS (fixtures/apps/direct_api): methods that call DynamoDB directly and a function
without the proxy event, with Velocity mapping templates and integration responses, as API Gateway runs them.

Before 7 December the deployer refused every AWS integration but Step Functions' StartExecution with SAM's own
template, and evaluated only the few references that template uses: a REST API with a direct DynamoDB
integration or a non-proxy Lambda integration did not deploy.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "direct_api" / "template.yaml"


def send(cloud, path: str, body: bytes | None = None, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(cloud.endpoints["http_api"] + path, data=body,
                                     method="POST" if body is not None else "GET",
                                     headers={k.replace("_", "-"): v for k, v in headers.items()})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(), dict(refused.headers)


def test_a_method_writes_to_dynamodb_through_its_mapping_template_and_answers_with_its_integration_response(cloud):
    order = {"customer": 'Ada "the first"', "lines": [{"sku": "tea", "qty": 2}, {"sku": "cup", "qty": 1}]}
    status, body, headers = send(cloud, "/orders", json.dumps(order).encode(), Content_Type="application/json",
                                 X_Order_Id="o-1")
    assert status == 201 and headers["Location"] == "/orders"
    assert json.loads(body) == {"id": "o-1", "request": headers["x-amzn-RequestId"]}
    [item] = cloud.client("dynamodb").scan(TableName=cloud.physical_id("Orders"))["Items"]
    assert item == {"id": {"S": "o-1"}, "customer": {"S": 'Ada "the first"'}, "lines": {"L": [
        {"M": {"sku": {"S": "tea"}, "qty": {"N": "2"}}}, {"M": {"sku": {"S": "cup"}, "qty": {"N": "1"}}}]}}

    # DynamoDB's 400 (the condition failed) selects the 4\d\d response, whose template reads the error's __type
    status, body, _ = send(cloud, "/orders", json.dumps(order).encode(), Content_Type="application/json",
                           X_Order_Id="o-1")
    assert (status, json.loads(body)) == (409, {"error": "exists"})
    # DynamoDB's 400 of another kind (a lone surrogate is no UTF-8: SerializationException) reads as itself
    status, body, _ = send(cloud, "/orders", b'{"customer": "\\ud800", "lines": []}',
                           Content_Type="application/json", X_Order_Id="o-3")
    assert status == 409 and json.loads(body)["error"].endswith("SerializationException")
    # passthroughBehavior NEVER: a content type without a template is refused, and DynamoDB is not called
    status, body, headers = send(cloud, "/orders", b"o-2", Content_Type="text/plain", X_Order_Id="o-2")
    assert (status, json.loads(body)) == (415, {"message": "Unsupported Media Type"})
    assert headers["x-amzn-ErrorType"] == "UnsupportedMediaTypeException"
    assert len(cloud.client("dynamodb").scan(TableName=cloud.physical_id("Orders"))["Items"]) == 1

    status, body, _ = send(cloud, "/orders/o-1")
    assert (status, json.loads(body)) == (200, {"id": "o-1", "customer": 'Ada "the first"', "items": 2})
    # the response template sets $context.responseOverride for an order DynamoDB does not have
    status, body, headers = send(cloud, "/orders/o-9")
    assert (status, json.loads(body), headers["X-Missing"]) == (404, {"message": "no such order"}, "o-9")


def test_a_function_without_the_proxy_event_gets_the_mapped_request_and_its_errors_select_a_response(cloud):
    status, body, headers = send(cloud, "/quote?sku=tea", b'{"qty": 3}', Content_Type="application/json")
    assert status == 200
    assert json.loads(body) == {"sku": "tea", "qty": 3, "price": 750, "currency": "EUR", "stage": "v1"}
    assert (headers["X-Currency"], headers["X-Desk"]) == ("EUR", "order-desk")  # from the answer, and a literal
    # the function's error message matches "Invalid quantity.*": that response's status and template
    status, body, _ = send(cloud, "/quote?sku=tea", b'{"qty": 0}', Content_Type="application/json")
    assert (status, json.loads(body)) == (400, {"error": "Invalid quantity: 0"})


def test_the_classic_queue_and_topic_integrations_post_forms_and_answer_json(cloud):
    """SQS's path override with an Action=SendMessage form (the classic API Gateway to SQS integration) and SNS's
    Publish with its TopicArn and Subject mapped into the query string; the services' answers come back as JSON."""
    sqs = cloud.client("sqs")
    status, body, _ = send(cloud, "/inbox", b'{"ticket": "a & b"}', Content_Type="application/json")
    assert status == 202
    queued = json.loads(body)["queued"]
    [message] = sqs.receive_message(QueueUrl=cloud.physical_id("Inbox"))["Messages"]
    assert (message["MessageId"], message["Body"]) == (queued, '{"ticket": "a & b"}')

    status, body, _ = send(cloud, "/alerts", b'{"level": "high"}', Content_Type="application/json",
                           X_Subject="disk full")
    assert status == 200
    published = json.loads(body)["PublishResponse"]
    assert published["PublishResult"]["MessageId"] and published["ResponseMetadata"]["RequestId"]
    [copy] = sqs.receive_message(QueueUrl=cloud.physical_id("AlertsCopy"), WaitTimeSeconds=5)["Messages"]
    notification = json.loads(copy["Body"])
    assert (notification["Subject"], notification["Message"]) == ("disk full", '{"level": "high"}')
    assert notification["MessageId"] == published["PublishResult"]["MessageId"]


def test_a_mock_integration_with_velocity_picks_its_response_from_the_status_its_request_template_names(cloud):
    """Before 7 December only static MOCK integrations (SAM's CORS preflights) deployed."""
    status, body, _ = send(cloud, "/ping?who=ada")
    assert (status, json.loads(body)) == (200, {"pong": "ada", "stage": "v1"})
    status, body, headers = send(cloud, "/ping?fail=yes")
    assert (status, json.loads(body), headers["Retry-After"]) == (503, {"message": "down for maintenance"}, "30")


def test_a_lambda_integration_with_the_event_invocation_type_answers_before_the_function_runs(cloud):
    """integration.request.header.X-Amz-Invocation-Type 'Event' (API Gateway's asynchronous invocation of the backend
    function): the method answers at once with its default response; the function runs afterwards."""
    started = time.monotonic()
    status, body, _ = send(cloud, "/later?id=l-1", b"{}", Content_Type="application/json")
    assert (status, json.loads(body)) == (202, {"accepted": "l-1"}) and time.monotonic() - started < 1.0
    table, ddb = cloud.physical_id("Orders"), cloud.client("dynamodb")
    deadline = time.monotonic() + 15
    while "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": "l-1"}}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ddb.get_item(TableName=table, Key={"id": {"S": "l-1"}})["Item"]["customer"] == {"S": "later"}

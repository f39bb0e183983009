"""Parity: a SAM HTTP API app (fixtures/apps/http_notes) deploys unmodified and answers as API Gateway documents.

Payload 2.0 and 1.0 integrations, a payload 2.0 Lambda authorizer with simple responses, a payload 1.0 one
with an IAM policy, CORS, a DynamoDB table with CloudFormation's SSESpecification.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path



TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "http_notes" / "template.yaml"
ALICE = {"Authorization": "Bearer let-me-in"}


def call(cloud, method, path, body=None, headers=None):
    request = urllib.request.Request(cloud.endpoints["http_api"] + path, data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_endpoint_is_the_http_apis_default_stage(cloud):
    assert cloud.endpoints["http_api"].startswith("http://127.0.0.1:")
    assert cloud.endpoints["http_api"].count("/") == 2      # $default: served at the root, no stage segment
    assert "websocket_api" not in cloud.endpoints
    assert "client" not in cloud.endpoints and "dashboard" not in cloud.endpoints     # no web page in this app
    api = cloud.stack.resources["NotesApi"]
    assert api.attributes["ApiEndpoint"] == f"https://{api.physical_id}.execute-api.us-east-1.amazonaws.com"
    assert cloud.stack.outputs["NotesApiUrl"] == f"{api.attributes['ApiEndpoint']}/"


def test_routes_exist_in_the_emulators_api_records(cloud):
    routes = cloud.client("apigatewayv2").get_routes(ApiId=cloud.physical_id("NotesApi"))["Items"]
    assert {r["RouteKey"] for r in routes} == {"POST /notes", "GET /notes/{id}", "GET /health", "GET /admin/stats"}


def test_a_request_without_the_identity_source_is_401_without_calling_the_authorizer(cloud):
    before = cloud.runtime.stats()["notifyx-AuthorizerFunction"]["invocations"]
    status, _, body = call(cloud, "POST", "/notes", b'{"text": "x"}')
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert cloud.runtime.stats()["notifyx-AuthorizerFunction"]["invocations"] == before


def test_a_simple_response_refusal_is_403(cloud):
    status, _, body = call(cloud, "POST", "/notes", b'{"text": "x"}', {"Authorization": "Bearer wrong"})
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})


def test_payload_2_with_authorizer_context_cookies_and_a_bare_return_value(cloud):
    status, headers, body = call(cloud, "POST", "/notes", b'{"text": "buy milk"}', ALICE)
    note = json.loads(body)
    assert status == 201 and note["owner"] == "alice"            # requestContext.authorizer.lambda.user
    assert headers["Set-Cookie"] == f"last_note={note['id']}"     # the response's cookies
    # get_note returns the item itself: API Gateway answers 200 with it as JSON
    status, headers, body = call(cloud, "GET", f"/notes/{note['id']}", headers=ALICE)
    assert status == 200 and headers["Content-Type"] == "application/json" and json.loads(body) == note
    status, _, body = call(cloud, "GET", "/notes/nope", headers=ALICE)
    assert (status, json.loads(body)) == (404, {"message": "no such note"})


def test_payload_1_route_without_auth(cloud):
    status, _, body = call(cloud, "GET", "/health")
    assert (status, json.loads(body)) == (200, {"version": "1.0", "path": "/health", "method": "GET"})
    # a format 1.0 response whose body is not a string is malformed (it was sent as JSON until 6 December)
    status, _, body = call(cloud, "GET", "/health?malformed")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_payload_1_authorizer_with_an_iam_policy(cloud):
    status, _, body = call(cloud, "GET", "/admin/stats?key=admin-key")
    assert status == 200 and json.loads(body)["role"] == "admin"
    assert call(cloud, "GET", "/admin/stats?key=guess")[0] == 403
    assert call(cloud, "GET", "/admin/stats")[0] == 401


def test_an_unknown_route_is_404_not_found(cloud):
    status, _, body = call(cloud, "GET", "/nothing/here")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert call(cloud, "DELETE", "/notes")[0] == 404


def test_cors_preflight_and_response_headers(cloud):
    origin = {"Origin": "https://notes.example.com"}
    status, headers, _ = call(cloud, "OPTIONS", "/notes", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://notes.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Max-Age"] == "600"
    _, headers, _ = call(cloud, "GET", "/health", headers=origin)
    assert headers["Access-Control-Allow-Origin"] == "https://notes.example.com"
    _, headers, _ = call(cloud, "GET", "/health", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in headers


def test_cloudformation_table_properties_are_translated(cloud):
    ddb = cloud.client("dynamodb")
    name = cloud.physical_id("NotesTable")
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["SSEDescription"]["Status"] == "ENABLED"           # SSESpecification.SSEEnabled
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert {"Key": "app", "Value": "notes"} in tags

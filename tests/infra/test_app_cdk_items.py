"""Parity: a REST API as plain CloudFormation writes it (fixtures/apps/cdk_items; `cdk synth` writes this for
aws-apigateway): AWS::ApiGateway::Resource, Method, Authorizer, RequestValidator, Model and GatewayResponse
resources instead of a swagger body. Before, the deployer refused Resource and Method (every CDK REST API); now
each is made in the emulator's API Gateway and the data plane serves the API as it serves SAM's bodies.
"""
from __future__ import annotations

import json
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "cdk_items" / "template.yaml"


def url(cloud, path: str) -> str:
    return cloud.endpoints["http_api"] + path


def test_the_token_authorizer_guards_its_method_and_the_gateway_response_answers(cloud):
    status, body, headers = call(url(cloud, "/items"))
    assert (status, body, headers["WWW-Authenticate"]) == (401, {"error": "sign in first"}, "Bearer")
    status, body, _ = call(url(cloud, "/items"), headers={"Authorization": "Bearer open-sesame"})
    assert status == 200, body
    assert (body["resource"], body["method"]) == ("/items", "GET")
    assert (body["authorizer"]["principalId"], body["authorizer"]["team"]) == ("alice", "shop")


def test_the_validator_checks_the_model_and_the_required_header(cloud):
    post = {"method": "POST", "headers": {"Content-Type": "application/json"}}
    assert call(url(cloud, "/items"), body=b'{"name": "pen"}', **post)[:2] == \
        (400, {"message": "Missing required request parameters: [X-Request-Id]"})
    post["headers"]["X-Request-Id"] = "r-1"
    assert call(url(cloud, "/items"), body=b'{"nam": "pen"}', **post)[:2] == (400, {"message": "Invalid request body"})
    status, body, _ = call(url(cloud, "/items"), body=b'{"name": "pen"}', **post)
    assert (status, body["body"]) == (200, {"name": "pen"})


def test_api_keys_iam_the_preflight_and_the_greedy_proxy(cloud):
    assert call(url(cloud, "/items/7"))[:2] == (403, {"message": "Forbidden"})
    status, body, _ = call(url(cloud, "/items/7"), headers={"x-api-key": "partner-key-0123456789"})
    assert (status, body["resource"], body["pathParameters"]) == (200, "/items/{id}", {"id": "7"})
    assert call(url(cloud, "/admin"))[:2] == (403, {"message": "Missing Authentication Token"})
    request = AWSRequest(method="PUT", url=url(cloud, "/admin"), headers={})
    SigV4Auth(Credentials("AKIDADMIN", "secret"), "execute-api", "us-east-1").add_auth(request)
    status, body, _ = call(url(cloud, "/admin"), method="PUT", headers=dict(request.headers.items()))
    assert (status, body["method"]) == (200, "PUT")
    status, body, _ = call(url(cloud, "/some/deep/path"), method="DELETE")
    assert (status, body["resource"], body["pathParameters"]) == (200, "/{proxy+}", {"proxy": "some/deep/path"})
    status, _, headers = _preflight(url(cloud, "/items"))
    assert (status, headers["Access-Control-Allow-Origin"]) == (204, "https://shop.example.com")


def _preflight(address: str):
    import urllib.request

    request = urllib.request.Request(address, method="OPTIONS", headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, answer.read(), dict(answer.headers)


def test_the_emulator_holds_the_resources_and_methods(cloud):
    apigw = cloud.client("apigateway")
    api_id = cloud.physical_id("ItemsApi")
    paths = {r["path"]: sorted(r.get("resourceMethods", {})) for r in apigw.get_resources(restApiId=api_id)["items"]}
    assert paths["/items"] == ["GET", "OPTIONS", "POST"] and paths["/items/{id}"] == ["GET"]
    method = apigw.get_method(restApiId=api_id, resourceId=cloud.physical_id("ItemsResource"), httpMethod="GET")
    assert (method["authorizationType"], method["authorizerId"]) == ("CUSTOM", cloud.physical_id("TokenAuthorizer"))
    assert json.loads(apigw.get_model(restApiId=api_id, modelName="Item")["schema"])["required"] == ["name"]

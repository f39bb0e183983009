"""Parity: an HTTP API written in plain CloudFormation (fixtures/apps/http_cfn): resources, a named stage, $default.

A named stage is served under /<stage> and rawPath keeps it; stage variables reach the event; the route's
REQUEST authorizer (payload 2.0, simple responses) reads a query string; other paths go to the $default route.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path



TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "http_cfn" / "template.yaml"


def get(cloud, path):
    try:
        with urllib.request.urlopen(cloud.endpoints["http_api"] + path, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_endpoint_is_the_named_stage(cloud):
    assert cloud.endpoints["http_api"].endswith("/v1")


def test_an_authorized_route_gets_path_parameters_stage_variables_and_context(cloud):
    api_id = cloud.physical_id("ItemsApi")
    assert get(cloud, "/items/42?key=sesame") == (200, {
        "routeKey": "GET /items/{id}", "rawPath": "/v1/items/42", "stage": "v1", "shelf": "top", "id": "42",
        "caller": "keyholder", "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/v1/GET/items/42"})
    assert get(cloud, "/items/42?key=guess") == (403, {"message": "Forbidden"})
    assert get(cloud, "/items/42") == (401, {"message": "Unauthorized"})


def test_other_paths_reach_the_default_route_without_authorizer(cloud):
    status, body = get(cloud, "/anything/else")
    assert status == 200 and body["routeKey"] == "$default" and body["caller"] is None and body["id"] is None
    assert body["rawPath"] == "/v1/anything/else"

"""Parity: an HTTP API written in plain CloudFormation (fixtures/apps/http_cfn): resources, a named stage, $default.

A named stage is served under /<stage> and rawPath keeps it; stage variables reach the event; the route's
REQUEST authorizer (payload 2.0, simple responses) reads a query string; a JWT authorizer (AuthorizerType JWT,
JwtConfiguration naming a user pool of the template) opens its route to an access token of the pool's client with the
route's scope; other paths go to the $default route.
"""
from __future__ import annotations

from pathlib import Path

from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "http_cfn" / "template.yaml"


def get(cloud, path, token=None):
    return call(cloud.endpoints["http_api"] + path, headers={"Authorization": token} if token else {})[:2]


def test_the_endpoint_is_the_named_stage(cloud):
    assert cloud.endpoints["http_api"].endswith("/v1")


def test_an_authorized_route_gets_path_parameters_stage_variables_and_context(cloud):
    api_id = cloud.physical_id("ItemsApi")
    assert get(cloud, "/items/42?key=sesame") == (200, {
        "routeKey": "GET /items/{id}", "rawPath": "/v1/items/42", "stage": "v1", "shelf": "top", "id": "42",
        "caller": "keyholder", "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/v1/GET/items/42",
        "user": None})
    assert get(cloud, "/items/42?key=guess") == (403, {"message": "Forbidden"})
    assert get(cloud, "/items/42") == (401, {"message": "Unauthorized"})


def test_other_paths_reach_the_default_route_without_authorizer(cloud):
    status, body = get(cloud, "/anything/else")
    assert status == 200 and body["routeKey"] == "$default" and body["caller"] is None and body["id"] is None
    assert body["rawPath"] == "/v1/anything/else"


def test_a_jwt_route_takes_an_access_token_of_the_pool_s_client_with_its_scope(cloud):
    idp = cloud.client("cognito-idp")
    pool, client = cloud.stack.outputs["PoolId"], cloud.stack.outputs["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="tom", TemporaryPassword="Temp-Pass-1", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="tom", Password="Tom-Pass-12", Permanent=True)
    tokens = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "tom", "PASSWORD": "Tom-Pass-12"})["AuthenticationResult"]
    status, body = get(cloud, "/mine", tokens["AccessToken"])
    assert status == 200 and body["user"] == "tom" and body["routeKey"] == "GET /mine", body
    assert get(cloud, "/mine", tokens["IdToken"]) == (403, {"message": "Forbidden"})  # no scope in an ID token
    assert get(cloud, "/mine") == (401, {"message": "Unauthorized"})

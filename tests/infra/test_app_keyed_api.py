"""Parity: a REST API whose methods require an API key (fixtures/apps/keyed_api: SAM's Auth ApiKeyRequired with the
usage plan and key SAM creates). A request without a key, with a wrong one, a disabled one or one of no usage plan
of the stage is 403 {"message": "Forbidden"}; the plan's key passes and the function sees it
(requestContext.identity.apiKey); a route with ApiKeyRequired false needs none; a key and a plan made at run time
count at once. Before, the deployer refused the API key scheme and the ApiKey, UsagePlan and UsagePlanKey types.
"""
from __future__ import annotations

from pathlib import Path

from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "keyed_api" / "template.yaml"


def get(cloud, path, key=None):
    return call(cloud.endpoints["http_api"] + path, headers={"x-api-key": key} if key else {})[:2]


def test_a_method_requiring_a_key_accepts_only_a_key_of_the_stage_s_usage_plan(cloud):
    apigw = cloud.client("apigateway")
    [key] = apigw.get_api_keys(includeValues=True)["items"]
    assert key["enabled"]
    assert get(cloud, "/items") == (403, {"message": "Forbidden"})
    assert get(cloud, "/items", "not-a-key") == (403, {"message": "Forbidden"})
    assert get(cloud, "/items", key["value"]) == (200, {"path": "/items", "apiKey": key["value"]})
    assert get(cloud, "/health") == (200, {"path": "/health", "apiKey": None})

    # a key of no usage plan, then added to the stage's plan at run time; then disabled
    loose = apigw.create_api_key(name="loose", enabled=True, value="loose-key-0123456789")
    assert get(cloud, "/items", "loose-key-0123456789")[0] == 403
    [plan] = apigw.get_usage_plans()["items"]
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=loose["id"], keyType="API_KEY")
    assert get(cloud, "/items", "loose-key-0123456789")[0] == 200
    apigw.update_api_key(apiKey=loose["id"], patchOperations=[{"op": "replace", "path": "/enabled",
                                                               "value": "false"}])
    assert get(cloud, "/items", "loose-key-0123456789")[0] == 403

    # a plan of another stage does not open this one
    other = apigw.create_usage_plan(name="other", apiStages=[{"apiId": cloud.stack.outputs["ApiId"],
                                                              "stage": "staging"}])
    stranger = apigw.create_api_key(name="stranger", enabled=True, value="stranger-key-0123456789")
    apigw.create_usage_plan_key(usagePlanId=other["id"], keyId=stranger["id"], keyType="API_KEY")
    assert get(cloud, "/items", "stranger-key-0123456789")[0] == 403

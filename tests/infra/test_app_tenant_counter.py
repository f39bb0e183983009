"""Lambda tenant isolation (fixtures/apps/tenant_counter), which the deployer refused (TenancyConfig): a function
with TenantIsolationMode PER_TENANT runs each tenant's invocations in sandboxes of that tenant's own (its module's
counter counts per tenant), hands the handler its tenant (Python context.tenant_id, Node.js context.tenantId), and
refuses an invocation without a tenant or with one Lambda would not take (400 InvalidParameterValueException);
Invoke's TenantId (X-Amz-Tenant-Id) reaches it synchronously and asynchronously, and a REST method's
integration.request.header.X-Amz-Tenant-Id mapping from a request header."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from racing import wait_for

from infra.node_sandbox import node_binary

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "tenant_counter" / "template.yaml"


def invoke(cloud, function: str, event: dict | None = None, **extra) -> dict:
    answer = cloud.client("lambda").invoke(FunctionName=cloud.physical_id(function),
                                           Payload=json.dumps(event or {}), **extra)
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read())


def test_each_tenant_has_sandboxes_of_its_own(cloud):
    blue = [invoke(cloud, "Isolated", TenantId="blue") for _ in range(3)]
    green = invoke(cloud, "Isolated", TenantId="green")
    assert [b["count"] for b in blue] == [1, 2, 3] and green["count"] == 1  # green never saw blue's counter
    assert {b["tenant"] for b in blue} == {"blue"} and green["tenant"] == "green"
    assert green["pid"] != blue[0]["pid"]
    # a function without isolation shares its sandbox across tenants, and still tells the handler the tenant
    shared = [invoke(cloud, "Shared", TenantId=t) for t in ("blue", "green")]
    assert [s["tenant"] for s in shared] == ["blue", "green"] and shared[1]["count"] == shared[0]["count"] + 1


def test_an_isolated_function_refuses_an_invocation_without_a_valid_tenant(cloud):
    lambda_ = cloud.client("lambda")
    with pytest.raises(lambda_.exceptions.InvalidParameterValueException, match="tenant isolation"):
        lambda_.invoke(FunctionName=cloud.physical_id("Isolated"), Payload=b"{}")
    with pytest.raises(lambda_.exceptions.InvalidParameterValueException):
        lambda_.invoke(FunctionName=cloud.physical_id("Isolated"), Payload=b"{}", InvocationType="Event")
    for bogus in ("line\nbreak", "a" * 257, "semi;colon"):
        with pytest.raises(lambda_.exceptions.InvalidParameterValueException):
            lambda_.invoke(FunctionName=cloud.physical_id("Isolated"), Payload=b"{}", TenantId=bogus)


def test_an_asynchronous_invocation_runs_for_its_tenant(cloud):
    lambda_ = cloud.client("lambda")
    answer = lambda_.invoke(FunctionName=cloud.physical_id("Isolated"), Payload=json.dumps({"report": True}),
                            InvocationType="Event", TenantId="async-tenant")
    assert answer["StatusCode"] == 202
    sqs = cloud.client("sqs")
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=cloud.stack.outputs["QueueUrl"],
                                                    WaitTimeSeconds=1).get("Messages"), 30)
    assert json.loads(messages[0]["Body"])["tenant"] == "async-tenant"


def test_a_rest_method_maps_a_header_to_the_tenant(cloud):
    url = f"http://127.0.0.1:{cloud.rest_gateway.port}/prod/count"

    def get(headers: dict) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    status, body = get({"x-tenant-id": "rest-tenant"})
    assert status == 200 and body["tenant"] == "rest-tenant" and body["count"] == 1
    assert get({"x-tenant-id": "rest-tenant"})[1]["count"] == 2
    # no tenant, or one Lambda refuses: Lambda's 400 is API Gateway's 500 (an invocation Lambda refused; a function
    # that failed is a 502; before 7 December every failed invocation was a 502 here)
    assert get({}) == (500, {"message": "Internal server error"})
    assert get({"x-tenant-id": "bad;tenant"})[0] == 500


@pytest.mark.skipif(node_binary() is None, reason="no node on this machine")
def test_a_node_handler_gets_its_tenant(cloud):
    first, again, other = (invoke(cloud, "IsolatedNode", TenantId=t) for t in ("red", "red", "teal"))
    assert (first["tenant"], first["count"], again["count"]) == ("red", 1, 2)
    assert (other["tenant"], other["count"]) == ("teal", 1) and other["pid"] != first["pid"]

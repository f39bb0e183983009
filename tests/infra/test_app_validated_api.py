"""Parity: REST API request validation (fixtures/apps/validated_api: SAM's RequestModel with ValidateBody and
ValidateParameters, RequestParameters with a required header). A request that lacks a required parameter is 400
{"message": "Missing required request parameters: [X-Tenant]"}, one whose body does not match the model (or is not
JSON) 400 {"message": "Invalid request body"}, both BadRequestException, and the function is not invoked; a valid
request reaches it. A route validating its body only does not ask for the header. Before, the validators were
ignored: every request reached the function.
"""
from __future__ import annotations

import json
from pathlib import Path

from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "validated_api" / "template.yaml"


def post(cloud, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, dict]:
    return call(cloud.endpoints["http_api"] + path, method="POST", body=body,
                headers={"Content-Type": "application/json", **(headers or {})})


def invocations(cloud) -> int:
    return cloud.runtime.stats().get(cloud.physical_id("Orders"), {}).get("invocations", 0)


def test_requests_are_validated_before_the_function_runs(cloud):
    good = json.dumps({"item": "tea", "quantity": 2}).encode()
    before = invocations(cloud)
    status, body, headers = post(cloud, "/orders", good)
    assert (status, body) == (400, {"message": "Missing required request parameters: [X-Tenant]"})
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    for bad in (b'{"item": "tea"}', b'{"item": "tea", "quantity": 0}', b'{"item": "", "quantity": 1}',
                b'{"item": "tea", "quantity": 1, "extra": true}', b'{"item": "tea", "quantity": "2"}', b"not json",
                b"", b"[" * 50_000):
        status, body, headers = post(cloud, "/orders", bad, {"X-Tenant": "acme"})
        assert (status, body) == (400, {"message": "Invalid request body"}), bad[:40]
        assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert invocations(cloud) == before  # none of them reached the function

    status, body, _ = post(cloud, "/orders", good, {"X-Tenant": "acme"})
    assert (status, body) == (200, {"got": {"item": "tea", "quantity": 2}, "tenant": "acme"})
    assert invocations(cloud) == before + 1
    # body-only: no header asked for; the body still checked
    assert post(cloud, "/drafts", good)[0] == 200
    assert post(cloud, "/drafts", b'{"item": "tea"}')[:2] == (400, {"message": "Invalid request body"})

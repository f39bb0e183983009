"""The REST API's Lambda authorizer and API Gateway's cache of its result: a token's second request costs no
authorizer invoke; logout flushes the stage's cache (FlushStageAuthorizersCache), so the very next request with
that token is 401, while other tokens are verified again once and keep working."""
from __future__ import annotations

import pytest

from client.sdk import ApiError


def test_a_cached_request_costs_no_auth_invoke_and_logout_revokes_at_once(local_cloud, new_user):
    gateway = local_cloud.rest_gateway
    ada, bob = new_user("cache-ada"), new_user("cache-bob")
    ada.http.request("GET", "/users/self")
    bob.http.request("GET", "/topics")
    before = gateway.authorizer_invocations
    for path in ("/users/self", "/topics", "/notifications", "/counters/self"):  # one cached policy, every route
        assert ada.http.request("GET", path)[0] == 200
        assert bob.http.request("GET", path)[0] == 200
    assert gateway.authorizer_invocations == before

    assert ada.http.request("DELETE", "/users/logout")[0] == 204
    with pytest.raises(ApiError) as refused:
        ada.http.request("GET", "/users/self")  # the very next request
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    flushed = gateway.authorizer_invocations
    assert bob.http.request("GET", "/users/self")[0] == 200  # the whole stage was flushed: bob is verified again
    assert bob.http.request("GET", "/users/self")[0] == 200  # and cached again
    assert gateway.authorizer_invocations == flushed + 1

"""Login guessing is slowed down (issue 9, item 12): per account, and by the REST API stage's throttling."""
from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from client.sdk import ApiError, HttpApi

pytestmark = pytest.mark.timeout(120)


def test_thirty_wrong_passwords_then_the_right_one_is_rate_limited(cloud, new_user):
    user = new_user("guessed")
    api = HttpApi(cloud.endpoints["http_api"])
    codes = []
    for i in range(30):
        with pytest.raises(ApiError) as refused:
            api.login(user.email, f"guess number {i}")
        codes.append(refused.value.code)
    assert set(codes) <= {"unauthorized", "rate_limited"} and "rate_limited" in codes
    with pytest.raises(ApiError) as refused:
        api.login(user.email, user.password)
    assert (refused.value.code, refused.value.status) == ("rate_limited", 429)


def test_the_stage_throttles_with_429_as_api_gateway_does(cloud_with):
    cloud = cloud_with(ApiThrottlingRateLimit="2", ApiThrottlingBurstLimit="3")
    base = urlsplit(cloud.endpoints["http_api"])
    statuses = []
    for _ in range(8):
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
        conn.request("GET", base.path + "/health")
        response = conn.getresponse()
        statuses.append((response.status, response.read()))
        conn.close()
    assert [s for s, _ in statuses[:3]] == [200, 200, 200]
    assert (429, b'{"message": "Too Many Requests"}') in statuses[3:]

"""Users and sessions over the public HTTP API and the WebSocket handshake (PROTOCOL.md)."""
from __future__ import annotations

import pytest

from websockets.exceptions import ConnectionClosed

from client.sdk import ApiError, Connection, HttpApi

pytestmark = pytest.mark.timeout(60)


def test_registered_user_logs_in_and_sees_themselves(new_user):
    user = new_user("me")

    me = user.http.me()

    assert me["email"] == user.email
    assert me["id"] == user.id


def test_registering_a_taken_email_is_a_conflict(cloud, new_user):
    user = new_user("taken")

    with pytest.raises(ApiError) as taken:
        HttpApi(cloud.endpoints["http_api"]).register(user.email, "another password")

    assert (taken.value.code, taken.value.status) == ("conflict", 409)


@pytest.mark.parametrize("body", [{"email": "x@example.com"}, {"email": "not-an-email", "password": "long enough"},
                                  {"email": "short@example.com", "password": "short"}])
def test_bad_registration_is_an_invalid_request(cloud, body):
    with pytest.raises(ApiError) as bad:
        HttpApi(cloud.endpoints["http_api"]).request("POST", "/users", body)

    assert (bad.value.code, bad.value.status) == ("invalid_request", 400)


def test_wrong_password_is_unauthorized(cloud, new_user):
    user = new_user("pw")

    with pytest.raises(ApiError) as refused:
        HttpApi(cloud.endpoints["http_api"]).login(user.email, "not the password")

    assert (refused.value.code, refused.value.status) == ("unauthorized", 401)


def test_handshake_without_a_valid_token_is_refused(cloud):
    with pytest.raises(ApiError) as refused:
        Connection(cloud.endpoints["websocket_api"], "not-a-token")

    assert (refused.value.code, refused.value.status) == ("unauthorized", 401)


def test_logout_closes_the_websockets_opened_with_that_token(cloud, new_user):
    user = new_user("bye")
    doomed, survivor = user.connect(), user.connect()
    other_login = HttpApi(cloud.endpoints["http_api"])
    other_login.login(user.email, user.password)
    other = Connection(cloud.endpoints["websocket_api"], other_login.token)
    try:
        assert doomed.request("ping") == {"pong": True} and other.request("ping") == {"pong": True}
        user.http.logout()
        for conn in (doomed, survivor):
            with pytest.raises(ConnectionClosed):
                while True:  # anything still in flight answers, then the server closes the socket
                    frame = conn.receive(timeout=5)
                    assert frame.get("type") != "reply" or frame["error"]["code"] == "unauthorized"
        assert other.request("ping") == {"pong": True}  # the same user's other session is untouched
    finally:
        other.close()


def test_logout_revokes_the_token_for_http_and_websocket(cloud, new_user):
    user = new_user("bye")
    assert user.connect().request("ping") == {"pong": True}

    user.http.logout()

    with pytest.raises(ApiError) as http_refused:
        user.http.me()
    assert (http_refused.value.code, http_refused.value.status) == ("unauthorized", 401)
    with pytest.raises(ApiError) as ws_refused:
        Connection(cloud.endpoints["websocket_api"], user.token)
    assert (ws_refused.value.code, ws_refused.value.status) == ("unauthorized", 401)
    # a new login gives a working token again
    fresh = HttpApi(cloud.endpoints["http_api"])
    fresh.login(user.email, user.password)
    assert fresh.me()["id"] == user.id

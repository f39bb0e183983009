"""The auth service as PROTOCOL.md specifies it: users, sessions, the verify op and the $connect authorizer."""
import json

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from tables import create_tables, physical_name

PASSWORD = "correct horse"


@pytest.fixture
def auth_tables(monkeypatch):
    """The auth service's tables on moto (its modules are imported after: models read table names at import)."""
    with mock_aws():
        create_tables(monkeypatch, "UsersTable", "TokensTable")
        yield


@pytest.fixture
def authorizer(auth_tables):
    """auth.authorizer: the WebSocket $connect REQUEST authorizer."""
    from auth import authorizer

    return authorizer


@pytest.fixture
def verify(auth_tables):
    """auth.verify: the internal op other services resolve tokens with."""
    from auth import verify

    return verify


@pytest.fixture
def client(auth_tables):
    """Chalice's test client of the auth REST API."""
    from auth import app

    with Client(app.app) as c:
        yield c.http


def post(client, path, body, headers=None):
    response = client.post(path, headers={"Content-Type": "application/json", **(headers or {})},
                           body=json.dumps(body) if not isinstance(body, str) else body)
    return response.status_code, (json.loads(response.body) if response.body else None)


def register(client, email="ada@example.com", password=PASSWORD):
    return post(client, "/users", {"email": email, "password": password})


def login(client, email="ada@example.com", password=PASSWORD):
    return post(client, "/users/login", {"email": email, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def get_self(client, token):
    response = client.get("/users/self", headers=bearer(token))
    return response.status_code, json.loads(response.body)


def error_code(result):
    status, body = result
    return status, body["error"]["code"]


# ---------------------------------------------------------------- register


def test_register_returns_the_user_without_secrets(client):
    status, body = register(client, "Ada@Example.com")
    assert status == 201
    assert set(body["user"]) == {"id", "email", "created_at"}
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["id"].startswith("u-")
    assert body["user"]["created_at"].endswith("Z")


def test_password_is_not_stored_in_clear(client):
    register(client)
    item = boto3.client("dynamodb").get_item(TableName=physical_name("UsersTable"),
                                             Key={"email": {"S": "ada@example.com"}})["Item"]
    stored = json.dumps(item)
    assert PASSWORD not in stored
    assert item["password"]["S"].startswith("scrypt$")


def test_same_password_gets_different_salts(client):
    register(client, "a@example.com")
    register(client, "b@example.com")
    table = boto3.client("dynamodb")
    hashes = [table.get_item(TableName=physical_name("UsersTable"), Key={"email": {"S": e}})["Item"]["password"]["S"]
              for e in ("a@example.com", "b@example.com")]
    assert hashes[0] != hashes[1]


def stored_hash(email="ada@example.com"):
    return boto3.client("dynamodb").get_item(TableName=physical_name("UsersTable"),
                                             Key={"email": {"S": email}})["Item"]["password"]["S"]


def test_the_hash_cost_comes_from_the_template_parameter_and_old_hashes_keep_working(client, monkeypatch):
    from core import config

    monkeypatch.setenv("PASSWORD_HASH_COST", "11")
    config.forget()
    register(client, "old@example.com")
    assert stored_hash("old@example.com").startswith(f"scrypt${2**11}$8$1$")
    monkeypatch.setenv("PASSWORD_HASH_COST", "12")  # raised: new passwords get the new cost
    config.forget()
    register(client, "new@example.com")
    assert stored_hash("new@example.com").startswith(f"scrypt${2**12}$8$1$")
    for email in ("old@example.com", "new@example.com"):  # each checked at its own stored parameters
        assert login(client, email)[0] == 200
        assert error_code(login(client, email, PASSWORD + "x")) == (401, "unauthorized")


def test_an_unknown_email_costs_one_check_at_the_current_cost_like_a_wrong_password(client, monkeypatch):
    import hashlib

    from auth import passwords

    register(client)
    costs = []
    real = hashlib.scrypt
    monkeypatch.setattr(passwords.hashlib, "scrypt", lambda *a, **kw: costs.append(kw["n"]) or real(*a, **kw))
    assert error_code(login(client, "nobody@example.com")) == (401, "unauthorized")
    assert error_code(login(client, "ada@example.com", PASSWORD + "x")) == (401, "unauthorized")
    assert costs == [passwords.cost(), passwords.cost()]


def test_taken_email_is_a_conflict(client):
    register(client)
    assert error_code(register(client, "ADA@example.com")) == (409, "conflict")


@pytest.mark.parametrize("body", [
    {"email": "ada@example.com", "password": "short"},
    {"email": "not-an-email", "password": PASSWORD},
    {"email": "ada@example.com"},
    {"password": PASSWORD},
    {"email": "ada@example.com", "password": 12345678},
    "not json",
    "[1, 2]",
])
def test_bad_registration_is_invalid_request(client, body):
    assert error_code(post(client, "/users", body)) == (400, "invalid_request")


# ---------------------------------------------------------------- login / self / logout


def test_login_returns_token_user_and_expiry(client):
    _, registered = register(client)
    status, body = login(client, "ADA@example.com")
    assert status == 200
    assert body["user"] == registered["user"]
    assert len(body["token"]) >= 32
    assert body["expires_at"].endswith("Z")


def test_token_is_stored_only_as_its_hash(client):
    register(client)
    _, body = login(client)
    items = boto3.client("dynamodb").scan(TableName=physical_name("TokensTable"))["Items"]
    assert len(items) == 1
    assert body["token"] not in json.dumps(items)
    assert int(items[0]["ttl"]["N"]) == int(items[0]["expires_at"]["N"])


@pytest.mark.parametrize("email,password", [("ada@example.com", "wrong password"), ("bob@example.com", PASSWORD)])
def test_bad_credentials_are_unauthorized(client, email, password):
    register(client)
    assert error_code(login(client, email, password)) == (401, "unauthorized")


def test_login_without_password_is_invalid_request(client):
    assert error_code(post(client, "/users/login", {"email": "ada@example.com"})) == (400, "invalid_request")


def test_self_returns_the_token_owner(client):
    _, registered = register(client)
    _, session = login(client)
    assert get_self(client, session["token"]) == (200, {"user": registered["user"]})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_self_without_a_valid_token_is_unauthorized(client, headers):
    response = client.get("/users/self", headers=headers)
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "unauthorized"


def test_expired_token_is_refused(client, authorizer, clock):
    register(client)
    _, session = login(client)
    clock.at += 86400 + 1
    assert error_code(get_self(client, session["token"])) == (401, "unauthorized")
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.handler({"queryStringParameters": {"token": session["token"]}, "methodArn": "arn"}, None)


def test_token_lifetime_comes_from_the_template_parameter(client, monkeypatch, clock, api_gateway_authorizer):
    monkeypatch.setenv("TOKEN_TTL_SECONDS", "60")
    register(client)
    _, session = login(client)
    issued_at = clock.at
    clock.at = issued_at + 30
    assert get_self(client, session["token"])[0] == 200
    clock.at = issued_at + 61
    # API Gateway keeps the authorizer's Allow up to AuthorizerCacheTtlSeconds (docs/internals.md); once it is
    # asked again, the expired token is refused
    assert get_self(client, session["token"])[0] == 200
    api_gateway_authorizer.flush("unitapi", "local")
    assert get_self(client, session["token"])[0] == 401


def test_logout_revokes_the_token_everywhere(client, authorizer, verify):
    register(client)
    _, session = login(client)
    _, other = login(client)
    response = client.delete("/users/logout", headers=bearer(session["token"]))
    assert response.status_code == 204
    assert error_code(get_self(client, session["token"])) == (401, "unauthorized")
    assert verify.handler({"op": "verify", "token": session["token"]}, None)["error"]["code"] == "unauthorized"
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.handler({"queryStringParameters": {"token": session["token"]}, "methodArn": "arn"}, None)
    # only that session ends
    assert get_self(client, other["token"])[0] == 200


def test_logout_twice_is_unauthorized(client):
    register(client)
    _, session = login(client)
    client.delete("/users/logout", headers=bearer(session["token"]))
    response = client.delete("/users/logout", headers=bearer(session["token"]))
    assert response.status_code == 401


# ---------------------------------------------------------------- verify op


def test_verify_answers_the_user_of_a_live_token(client, verify):
    _, registered = register(client)
    _, session = login(client)
    answer = verify.handler({"op": "verify", "token": session["token"]}, None)
    assert answer == {"ok": True, "data": {"id": registered["user"]["id"], "email": "ada@example.com"}}


@pytest.mark.parametrize("event", [{"op": "verify", "token": "bogus"}, {"op": "verify", "token": ""}])
def test_verify_refuses_unknown_tokens(verify, event):
    answer = verify.handler(event, None)
    assert answer["ok"] is False
    assert answer["error"]["code"] == "unauthorized"


def test_verify_without_token_is_invalid_request(verify):
    assert verify.handler({"op": "verify"}, None)["error"]["code"] == "invalid_request"


# ---------------------------------------------------------------- $connect authorizer

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef/local/$connect"


def test_authorizer_allows_a_query_string_token(client, authorizer):
    _, registered = register(client)
    _, session = login(client)
    policy = authorizer.handler(
        {"type": "REQUEST", "methodArn": METHOD_ARN, "queryStringParameters": {"token": session["token"]}}, None)
    user_id = registered["user"]["id"]
    assert policy == {
        "principalId": user_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}]},
        "context": {"user_id": user_id, "email": "ada@example.com", "session": policy["context"]["session"]},
    }
    assert session["token"] not in policy["context"]["session"]


def test_authorizer_allows_a_bearer_header(client, authorizer):
    register(client)
    _, session = login(client)
    policy = authorizer.handler(
        {"methodArn": METHOD_ARN, "queryStringParameters": None,
         "headers": {"authorization": f"Bearer {session['token']}"}}, None)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize("event", [
    {"methodArn": METHOD_ARN},
    {"methodArn": METHOD_ARN, "queryStringParameters": {"token": "bogus"}},
    {"methodArn": METHOD_ARN, "headers": {"Authorization": "Bearer bogus"}},
    {"methodArn": METHOD_ARN, "headers": {"Authorization": "Basic Zm9vOmJhcg=="}},
])
def test_authorizer_denies_missing_or_bad_tokens(authorizer, event):
    with pytest.raises(Exception) as raised:
        authorizer.handler(event, None)
    assert str(raised.value) == "Unauthorized"


# ---------------------------------------------------------------- login backoff (issue 9, item 12)


def test_repeated_wrong_passwords_lock_the_accounts_logins_with_a_growing_backoff(client, clock):
    clock.at = 1_000_000.0
    register(client)
    for _ in range(5):  # a few typos are free
        assert error_code(login(client, password="wrong password")) == (401, "unauthorized")
    assert login(client)[0] == 200  # and a good login resets the count
    for _ in range(6):
        assert error_code(login(client, password="wrong password")) == (401, "unauthorized")
    status, body = login(client)  # even the right password waits out the backoff
    assert (status, body["error"]["code"]) == (429, "rate_limited") and "try again in" in body["error"]["message"]
    clock.at += 2
    assert error_code(login(client, password="wrong password")) == (401, "unauthorized")
    clock.at += 1.5
    assert error_code(login(client)) == (429, "rate_limited")  # the 7th failure doubled the wait
    clock.at += 2
    assert login(client)[0] == 200


def test_thirty_fast_guesses_cannot_be_followed_by_a_login(client):
    register(client)
    answers = [login(client, password=f"guess {i:02d} nope")[0] for i in range(30)]
    assert set(answers) <= {401, 429} and answers.count(429) >= 20
    assert error_code(login(client)) == (429, "rate_limited")


def test_guessing_one_account_does_not_lock_another(client):
    register(client)
    register(client, "bob@example.com")
    for _ in range(8):
        login(client, password="wrong password")
    assert login(client, "bob@example.com")[0] == 200

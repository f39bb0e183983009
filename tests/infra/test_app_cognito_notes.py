"""Parity: a Cognito user pool in front of an HTTP API (a JWT authorizer: the pool as issuer, its app client as
audience) and a REST API (a Cognito user pool authorizer), as SAM writes them (fixtures/apps/cognito_notes).

A user signs up, is confirmed and signs in through the emulator's Cognito; their tokens open both APIs, and each
API hands the function the token's claims its own way (HTTP: requestContext.authorizer.jwt, every value a string,
a list as "[a b]"; REST: requestContext.authorizer.claims, exp and iat as dates, a list comma-separated). Scopes
decide the routes that ask for them (HTTP: 403 without one; REST: an access token with one, else 401). Tokens that
are missing, malformed, tampered with, expired, not yet valid, of another pool, of another app client (HTTP only:
REST trusts any client of the pool) or signed by another key are 401. Before, the deployer refused the Cognito
resource types and both authorizers, so no such template ran at all.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from http_calls import call
from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "cognito_notes" / "template.yaml"
PASSWORD = "Notes-Secret-1"


def get(url: str, token: str | None = None) -> tuple[int, dict]:
    return call(url, headers={"Authorization": token} if token is not None else {})[:2]


def apis(cloud) -> tuple[str, str]:
    """The HTTP API's and the REST API's base URLs."""
    gateway = cloud.rest_gateway
    [http] = [api for api in gateway.http_apis if api.api.api_id == cloud.stack.outputs["HttpApiId"]]
    return f"http://127.0.0.1:{gateway.port}{http.base_path}", cloud.endpoints["http_api"]


def sign_in(cloud, email: str, *, pool: str | None = None, client: str | None = None,
            groups: tuple[str, ...] = ()) -> dict:
    idp = cloud.client("cognito-idp")
    pool = pool or cloud.stack.outputs["UserPoolId"]
    client = client or cloud.stack.outputs["UserPoolClientId"]
    idp.sign_up(ClientId=client, Username=email, Password=PASSWORD)
    idp.admin_confirm_sign_up(UserPoolId=pool, Username=email)
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=group)
    return idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})["AuthenticationResult"]


def forged(claims: dict, key=None, **header) -> str:
    """A token with these claims, signed with the emulator's Cognito key (or `key`)."""
    key = key or jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode({"alg": "RS256", "kid": "dummy", **header}, claims, key)


def access_claims(cloud, **changes) -> dict:
    now = int(time.time())
    region = cloud.stack.region
    claims = {"iss": f"https://cognito-idp.{region}.amazonaws.com/{cloud.stack.outputs['UserPoolId']}",
              "sub": "4f1e0c57-0000-4000-8000-000000000001", "client_id": cloud.stack.outputs["UserPoolClientId"],
              "token_use": "access", "scope": "notes/admin openid", "iat": now, "auth_time": now, "exp": now + 600,
              "username": "forged"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_the_deployed_pool_client_and_group(cloud):
    outputs = cloud.stack.outputs
    idp = cloud.client("cognito-idp")
    pool = idp.describe_user_pool(UserPoolId=outputs["UserPoolId"])["UserPool"]
    assert pool["Name"] == "notes-users" and pool["Arn"] == outputs["UserPoolArn"]
    assert pool["UsernameAttributes"] == ["email"] and pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 8
    assert outputs["ProviderUrl"] == f"https://cognito-idp.{cloud.stack.region}.amazonaws.com/{outputs['UserPoolId']}"
    client = idp.describe_user_pool_client(UserPoolId=outputs["UserPoolId"],
                                           ClientId=outputs["UserPoolClientId"])["UserPoolClient"]
    assert client["ClientName"] == "notes-web" and "ClientSecret" not in client
    [group] = idp.list_groups(UserPoolId=outputs["UserPoolId"])["Groups"]
    assert group["GroupName"] == "admins"
    # the pool's password policy applies to sign-ups
    try:
        idp.sign_up(ClientId=outputs["UserPoolClientId"], Username="weak@example.com", Password="short")
        raise AssertionError("a password under the policy's minimum length was accepted")
    except idp.exceptions.InvalidPasswordException:
        pass


def test_a_signed_in_user_reaches_both_apis_with_the_claims_each_passes(cloud):
    http, rest = apis(cloud)
    tokens = sign_in(cloud, "ada@example.com", groups=("admins",))

    status, body = get(http + "/notes", tokens["IdToken"])
    assert status == 200, body
    jwt_block = body["authorizer"]["jwt"]
    claims = jwt_block["claims"]
    assert jwt_block["scopes"] is None  # the route asks for no scope
    assert claims["email"] == "ada@example.com" and claims["token_use"] == "id"
    assert claims["aud"] == cloud.stack.outputs["UserPoolClientId"]
    assert claims["cognito:groups"] == "[admins]"
    assert re.fullmatch(r"\d{10}", claims["exp"]) and all(isinstance(v, str) for v in claims.values())
    # the app client's validity: ID tokens 10 minutes, access tokens 5 (moto made every token last an hour)
    assert int(claims["exp"]) - int(claims["iat"]) == 600 and tokens["ExpiresIn"] == 300

    status, body = get(http + "/notes", "Bearer " + tokens["AccessToken"])  # with or without "Bearer "
    assert status == 200, body
    assert body["authorizer"]["jwt"]["claims"]["client_id"] == cloud.stack.outputs["UserPoolClientId"]

    status, body = get(rest + "/notes", tokens["IdToken"])
    assert status == 200, body
    claims = body["authorizer"]["claims"]
    assert claims["email"] == "ada@example.com" and claims["cognito:groups"] == "admins"
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}", claims["exp"])
    # a method without scopes takes the ID token, not the access token
    assert get(rest + "/notes", tokens["AccessToken"]) == (401, {"message": "Unauthorized"})
    # a route without an authorizer needs no token
    assert get(http + "/health")[0] == 200


def test_routes_asking_for_scopes(cloud):
    http, rest = apis(cloud)
    tokens = sign_in(cloud, "grace@example.com")

    status, body = get(http + "/profile", tokens["AccessToken"])
    assert status == 200, body
    assert body["authorizer"]["jwt"]["scopes"] == ["aws.cognito.signin.user.admin"]
    assert get(http + "/profile", tokens["IdToken"]) == (403, {"message": "Forbidden"})  # an ID token has no scope
    status, _, headers = call(http + "/admin", headers={"Authorization": tokens["AccessToken"]})
    assert status == 403 and headers["www-authenticate"].startswith('Bearer scope="notes/admin" '
                                                                     'error="insufficient_scope" ')
    status, body = get(http + "/admin", forged(access_claims(cloud)))  # a token with the notes/admin scope
    assert status == 200, body
    assert body["authorizer"]["jwt"]["scopes"] == ["notes/admin", "openid"]

    status, body = get(rest + "/profile", tokens["AccessToken"])
    assert status == 200, body
    assert body["authorizer"]["claims"]["scope"] == "aws.cognito.signin.user.admin"
    assert get(rest + "/profile", tokens["IdToken"])[0] == 401
    assert get(rest + "/profile", forged(access_claims(cloud)))[0] == 401  # none of the method's scopes


def test_tokens_that_authorize_nothing(cloud):
    http, rest = apis(cloud)
    tokens = sign_in(cloud, "linus@example.com")
    idp = cloud.client("cognito-idp")
    header, payload, signature = tokens["IdToken"].split(".")
    tampered = ".".join((header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")))
    stranger_key = jwk.RSAKey.generate_key(2048)
    now = int(time.time())
    refused = {
        "no token": None, "empty": "", "not a JWT": "abc", "three garbage parts": "a.b.c",
        "tampered": tampered,
        "expired": forged(access_claims(cloud, exp=now - 5, iat=now - 600)),
        "not yet valid": forged(access_claims(cloud, nbf=now + 300)),
        "issued in the future": forged(access_claims(cloud, iat=now + 300)),
        "no exp": forged(access_claims(cloud, exp=None)),
        "another key": forged(access_claims(cloud), key=stranger_key),
        "a kid the issuer does not have": forged(access_claims(cloud), kid="other"),
        "another issuer": forged(access_claims(cloud, iss="https://issuer.invalid/pool")),
        "HS256": jwt.encode({"alg": "HS256", "kid": "dummy"}, access_claims(cloud), jwk.OctKey.generate_key(256)),
    }
    for what, token in refused.items():
        assert get(http + "/notes", token) == (401, {"message": "Unauthorized"}), what
        assert get(rest + "/profile", token) == (401, {"message": "Unauthorized"}), what

    # another pool's user: refused by both
    other = idp.create_user_pool(PoolName="others", UsernameAttributes=["email"])["UserPool"]["Id"]
    other_client = idp.create_user_pool_client(UserPoolId=other, ClientName="x",
                                               ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]
    foreign = sign_in(cloud, "eve@example.com", pool=other, client=other_client["ClientId"])
    assert get(http + "/notes", foreign["IdToken"])[0] == 401
    assert get(rest + "/notes", foreign["IdToken"])[0] == 401

    # another app client of the same pool: not an audience of the JWT authorizer; the REST authorizer trusts the pool
    second = idp.create_user_pool_client(UserPoolId=cloud.stack.outputs["UserPoolId"], ClientName="second",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]
    via_second = idp.initiate_auth(ClientId=second["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": "linus@example.com", "PASSWORD": PASSWORD})
    status, _, headers = call(http + "/notes", headers={"Authorization": via_second["AuthenticationResult"]["IdToken"]})
    # as API Gateway's troubleshooting guide shows it
    assert (status, headers["www-authenticate"]) == (
        401, 'Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"')
    assert get(rest + "/notes", via_second["AuthenticationResult"]["IdToken"])[0] == 200

    # the token itself still works
    assert get(http + "/notes", tokens["IdToken"])[0] == 200

"""api_gateway/tokens.py without a cloud: how each API writes a token's claims for the integration, and issuers
whose key set cannot be had."""
from __future__ import annotations

import time

import pytest
from joserfc import jwk, jwt

from api_gateway import tokens

CLAIMS = {"sub": "u1", "exp": 1_796_602_790, "iat": 1_796_599_190, "email_verified": True, "ratio": 0.5,
          "cognito:groups": ["admins", "staff"], "address": {"city": "Paris"}, "nickname": None}


def test_an_http_api_writes_every_claim_as_text():
    assert tokens.http_claims(CLAIMS) == {
        "sub": "u1", "exp": "1796602790", "iat": "1796599190", "email_verified": "true", "ratio": "0.5",
        "cognito:groups": "[admins staff]", "address": '{"city":"Paris"}'}  # a null claim is left out


def test_a_rest_api_writes_dates_and_comma_separated_lists():
    assert tokens.rest_claims(CLAIMS) == {
        "sub": "u1", "exp": "Mon Dec 07 00:19:50 UTC 2026", "iat": "Sun Dec 06 23:19:50 UTC 2026",
        "email_verified": "true", "ratio": "0.5", "cognito:groups": "admins,staff", "address": '{"city":"Paris"}'}


def test_scopes_from_scope_or_scp():
    assert tokens.token_scopes({"scope": "a b  c"}) == ["a", "b", "c"]
    assert tokens.token_scopes({"scp": ["a", 3, "b"]}) == ["a", "b"]
    assert tokens.token_scopes({}) == []
    tokens.require_scopes({"scope": "a"}, ())  # nothing asked: nothing to check
    with pytest.raises(tokens.Refused) as refused:
        tokens.require_scopes({"scope": "a"}, ("b",))
    assert refused.value.status == 403


def test_an_issuer_whose_keys_cannot_be_had_refuses_its_tokens():
    key = jwk.RSAKey.generate_key(2048)
    token = jwt.encode({"alg": "RS256", "kid": "k"}, {"iss": "http://127.0.0.1:1/x", "exp": time.time() + 60}, key)
    # an issuer is an https URL: nothing is fetched for another, and the token is refused
    assert tokens.discovered_key_set("http://127.0.0.1:1/x") is None
    with pytest.raises(tokens.Refused):
        tokens.verify(token, issuers=["http://127.0.0.1:1/x"], keys=tokens.discovered_key_set)
    with pytest.raises(tokens.Refused):
        tokens.verify(token, issuers=["http://127.0.0.1:1/x"], keys=lambda issuer: None)
    good = {"keys": [{**key.as_dict(private=False), "kid": "k"}]}
    assert tokens.verify(token, issuers=["http://127.0.0.1:1/x"], keys=lambda issuer: good)["iss"] == \
        "http://127.0.0.1:1/x"


def test_a_malformed_token_is_refused_whatever_it_holds():
    """Tokens an attacker makes: nesting deeper than Python's JSON parser goes, invalid UTF-8, non-ASCII, a lone
    surrogate: each is a 401, never an exception out of the authorizer."""
    import base64

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for token in (b64(b"[" * 50_000) + "." + b64(b"{}") + ".x", b64(b"\xff\xfe") + ".e30.x", "\u00e9.e30.x",
                  "\ud800.e30.x", b64(b'{"alg": "RS256"}') + "." + b64(b'"a string"') + ".x"):
        with pytest.raises(tokens.Refused):
            tokens.verify(token, issuers=["https://issuer.example"], keys=lambda issuer: None)

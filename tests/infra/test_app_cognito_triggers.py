"""Parity: a user pool's Lambda triggers (SAM `Cognito` events; fixtures/apps/cognito_triggers) run as Cognito runs
them, synchronously, with Cognito's events:
- PreSignUp on SignUp: its autoConfirmUser / autoVerifyEmail confirm the user at once; a trigger that raises refuses
  the sign-up with UserLambdaValidationException "PreSignUp failed with error <message>." and no user is kept;
- PostConfirmation on ConfirmSignUp and AdminConfirmSignUp (not on a PreSignUp auto-confirmation: Cognito
  documents it on those calls), with the user's attributes and cognito:user_status;
- PostAuthentication after a password sign-in; pre token generation (V1) on sign-in and refresh: its claims
  are added to (and suppressed from) the ID token, not the access token.
Before, the deployer refused LambdaConfig, so no template with a Cognito event ran.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "cognito_triggers" / "template.yaml"
PASSWORD = "Members-Pass-1"


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def member(cloud, sub: str) -> dict | None:
    table = cloud.client("dynamodb")
    item = table.get_item(TableName=cloud.stack.outputs["TableName"], Key={"id": {"S": sub}}).get("Item")
    return {k: next(iter(v.values())) for k, v in item.items()} if item else None


def sign_in(cloud, email: str) -> dict:
    return cloud.client("cognito-idp").initiate_auth(
        ClientId=cloud.stack.outputs["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})["AuthenticationResult"]


def test_pre_sign_up_confirms_one_domain_and_refuses_another(cloud):
    idp = cloud.client("cognito-idp")
    client, pool = cloud.stack.outputs["UserPoolClientId"], cloud.stack.outputs["UserPoolId"]

    answer = idp.sign_up(ClientId=client, Username="ada@example.com", Password=PASSWORD)
    assert answer["UserConfirmed"] is True
    user = idp.admin_get_user(UserPoolId=pool, Username="ada@example.com")
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    # an auto-confirmation is not a ConfirmSignUp: PostConfirmation did not run
    assert member(cloud, answer["UserSub"]) is None

    with pytest.raises(idp.exceptions.UserLambdaValidationException) as refused:
        idp.sign_up(ClientId=client, Username="mallory@blocked.test", Password=PASSWORD)
    assert refused.value.response["Error"]["Message"] == \
        "PreSignUp failed with error sign-ups from blocked.test are closed."
    assert idp.list_users(UserPoolId=pool, Filter='email = "mallory@blocked.test"')["Users"] == []

    # another domain signs up unconfirmed, as without a trigger
    answer = idp.sign_up(ClientId=client, Username="bob@other.test", Password=PASSWORD)
    assert answer["UserConfirmed"] is False


def test_post_confirmation_records_the_user_and_sign_ins_are_counted(cloud):
    idp = cloud.client("cognito-idp")
    client, pool = cloud.stack.outputs["UserPoolClientId"], cloud.stack.outputs["UserPoolId"]
    sub = idp.sign_up(ClientId=client, Username="carol@other.test", Password=PASSWORD)["UserSub"]
    assert member(cloud, sub) is None
    idp.confirm_sign_up(ClientId=client, Username="carol@other.test", ConfirmationCode="123456")
    assert member(cloud, sub) == {"id": sub, "email": "carol@other.test", "status": "CONFIRMED", "sign_ins": "0",
                                  "pool": pool}

    sub2 = idp.sign_up(ClientId=client, Username="dan@other.test", Password=PASSWORD)["UserSub"]
    idp.admin_confirm_sign_up(UserPoolId=pool, Username="dan@other.test")
    assert member(cloud, sub2)["email"] == "dan@other.test"

    sign_in(cloud, "carol@other.test")
    sign_in(cloud, "carol@other.test")
    assert member(cloud, sub)["sign_ins"] == "2"


def test_pre_token_generation_shapes_the_id_token(cloud):
    idp = cloud.client("cognito-idp")
    idp.sign_up(ClientId=cloud.stack.outputs["UserPoolClientId"], Username="erin@example.com", Password=PASSWORD)
    tokens = sign_in(cloud, "erin@example.com")
    id_claims = claims(tokens["IdToken"])
    assert id_claims["plan"] == "pro" and id_claims["issued_by"] == "TokenGeneration_Authentication"
    assert "email" not in id_claims and id_claims["token_use"] == "id"
    assert "plan" not in claims(tokens["AccessToken"])  # V1 changes the ID token only

    refreshed = idp.initiate_auth(ClientId=cloud.stack.outputs["UserPoolClientId"], AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})["AuthenticationResult"]
    assert claims(refreshed["IdToken"])["issued_by"] == "TokenGeneration_RefreshTokens"
    # the changed token is still signed by the pool's key: the issuer's key set verifies it
    from api_gateway import tokens as checks

    issuer = f"https://cognito-idp.{cloud.stack.region}.amazonaws.com/{cloud.stack.outputs['UserPoolId']}"
    assert checks.verify(refreshed["IdToken"], issuers=[issuer], keys=cloud.key_set)["plan"] == "pro"


def test_pre_authentication_refuses_a_locked_account(cloud):
    idp = cloud.client("cognito-idp")
    idp.sign_up(ClientId=cloud.stack.outputs["UserPoolClientId"], Username="locked.lou@example.com",
                Password=PASSWORD)
    with pytest.raises(idp.exceptions.UserLambdaValidationException) as refused:
        sign_in(cloud, "locked.lou@example.com")
    assert refused.value.response["Error"]["Message"] == "PreAuthentication failed with error this account is locked."


def test_an_admin_created_user_s_new_password_challenge(cloud):
    idp = cloud.client("cognito-idp")
    pool, client = cloud.stack.outputs["UserPoolId"], cloud.stack.outputs["UserPoolClientId"]
    with pytest.raises(idp.exceptions.UserLambdaValidationException):  # PreSignUp_AdminCreateUser runs too
        idp.admin_create_user(UserPoolId=pool, Username="trent@blocked.test", TemporaryPassword="Temp-Pass-1",
                              MessageAction="SUPPRESS")
    idp.admin_create_user(UserPoolId=pool, Username="frank@other.test", TemporaryPassword="Temp-Pass-1",
                          MessageAction="SUPPRESS")
    challenge = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": "frank@other.test", "PASSWORD": "Temp-Pass-1"})
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    answer = idp.respond_to_auth_challenge(ClientId=client, ChallengeName="NEW_PASSWORD_REQUIRED",
                                           Session=challenge["Session"],
                                           ChallengeResponses={"USERNAME": "frank@other.test",
                                                               "NEW_PASSWORD": PASSWORD})
    assert claims(answer["AuthenticationResult"]["IdToken"])["issued_by"] == "TokenGeneration_NewPasswordChallenge"
    # PostAuthentication counted the sign-in the challenge completed; PostConfirmation never ran for an admin-created
    # user (no ConfirmSignUp), so the row has no email
    sub = claims(answer["AuthenticationResult"]["IdToken"])["sub"]
    assert member(cloud, sub) == {"id": sub, "sign_ins": "1"}


def test_a_version_2_pre_token_trigger_changes_the_access_token(cloud):
    """A pool made at run time with PreTokenGenerationConfig V2_0: its trigger runs, with version 2 events."""
    idp = cloud.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="v2", LambdaConfig={"PreTokenGenerationConfig": {
        "LambdaArn": cloud.stack.outputs["ClaimsArn"], "LambdaVersion": "V2_0"}})["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="v2",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    idp.sign_up(ClientId=client, Username="gina", Password=PASSWORD)
    idp.admin_confirm_sign_up(UserPoolId=pool, Username="gina")
    tokens = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "gina", "PASSWORD": PASSWORD})["AuthenticationResult"]
    access = claims(tokens["AccessToken"])
    assert access["plan"] == "pro" and access["scope"].split() == ["aws.cognito.signin.user.admin", "members/read"]
    assert claims(tokens["IdToken"])["plan"] == "pro"

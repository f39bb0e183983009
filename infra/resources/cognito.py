"""Cognito user pools, their app clients, groups, domains and users (moto's cognito-idp: sign-up, sign-in, tokens)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra import moto_patches
from infra.moto_patches import COGNITO_TRIGGERS
from infra.resources.base import Resource, creates, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

NOT_SENT = "Cognito sends no email or SMS locally (codes are not needed: see docs/local-cloud.md)"
_POOL_API = ("Policies", "AutoVerifiedAttributes", "AliasAttributes", "UsernameAttributes", "MfaConfiguration",
             "EmailVerificationMessage", "EmailVerificationSubject", "VerificationMessageTemplate",
             "UserAttributeUpdateSettings", "AdminCreateUserConfig", "UsernameConfiguration",
             "AccountRecoverySetting", "DeletionProtection")


def _password_policy(policies: dict) -> dict:
    """CloudFormation's numbers may be strings; the API's are integers."""
    policy = dict(policies.get("PasswordPolicy") or {})
    for key in ("MinimumLength", "TemporaryPasswordValidityDays", "PasswordHistorySize"):
        if key in policy:
            policy[key] = numeric(policy[key])
    for key in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols"):
        if key in policy:
            policy[key] = truthy(policy[key])
    return {**policies, "PasswordPolicy": policy} if policies.get("PasswordPolicy") else dict(policies)


def _schema(attributes: list[dict]) -> list[dict]:
    schema = []
    for attribute in attributes or []:
        entry = dict(attribute)
        for key in ("Required", "Mutable", "DeveloperOnlyAttribute"):
            if key in entry:
                entry[key] = truthy(entry[key])
        for constraints in ("StringAttributeConstraints", "NumberAttributeConstraints"):
            if constraints in entry:
                entry[constraints] = {k: str(v) for k, v in entry[constraints].items()}
        schema.append(entry)
    return schema


@creates("AWS::Cognito::UserPool",
         handles=("UserPoolName", "Schema", "UserPoolTags", "LambdaConfig", *_POOL_API),
         ignores={"EmailConfiguration": NOT_SENT, "SmsConfiguration": NOT_SENT, "SmsAuthenticationMessage": NOT_SENT,
                  "SmsVerificationMessage": NOT_SENT, "EmailAuthenticationMessage": NOT_SENT,
                  "EmailAuthenticationSubject": NOT_SENT, "EnabledMfas": "multi-factor sign-in is not asked locally",
                  "DeviceConfiguration": "devices are not remembered locally",
                  "UserPoolAddOns": "no advanced security features locally", "UserPoolTier": "one tier locally",
                  "WebAuthnRelyingPartyID": "no passkeys locally", "WebAuthnUserVerification": "no passkeys locally",
                  "WebAuthnFactorConfiguration": "no passkeys locally"},
         unsupported={"KeyConfiguration": "tokens are signed with the emulator's key",
                      "IssuerConfiguration": "tokens name the emulator's issuer"},
         check=lambda d, lid, props: [
             (f"LambdaConfig {name}", "the local cloud runs the PreSignUp, PostConfirmation, PreAuthentication, "
                                      "PostAuthentication and pre token generation triggers only")
             for name in (props.get("LambdaConfig") or {}) if name not in COGNITO_TRIGGERS])
def _user_pool(d: Deployer, lid: str, props: dict) -> Resource:
    args: dict[str, Any] = {"PoolName": d.name_for(lid, props, "UserPoolName", limit=128), **pick(props, *_POOL_API)}
    if "Policies" in args:
        args["Policies"] = _password_policy(args["Policies"])
    if "DeletionProtection" in args:
        args["DeletionProtection"] = str(args["DeletionProtection"]).upper()
    if props.get("Schema"):
        args["Schema"] = _schema(props["Schema"])
    if props.get("UserPoolTags"):
        args["UserPoolTags"] = tags(props["UserPoolTags"])
    if props.get("LambdaConfig"):  # the triggers the emulator runs (infra/moto_patches.py, run_cognito_trigger)
        args["LambdaConfig"] = props["LambdaConfig"]
    pool = d.client("cognito-idp").create_user_pool(**args)["UserPool"]
    pool_id, arn = pool["Id"], pool["Arn"]
    if d.embedded:  # the same id at every start, as a stack update keeps a pool's (its users are kept with it)
        pool_id = moto_patches.keep_user_pool_id(d.stack.account_id, d.stack.region, pool_id,
                                                 f"{d.stack.name}/{lid}")
        arn = arn.replace(pool["Id"], pool_id)
    provider = f"cognito-idp.{d.stack.region}.amazonaws.com/{pool_id}"
    return Resource(lid, "AWS::Cognito::UserPool", pool_id, {
        "Arn": arn, "UserPoolId": pool_id, "ProviderName": provider, "ProviderURL": f"https://{provider}"})


_CLIENT_API = ("ClientName", "ExplicitAuthFlows", "AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs",
               "LogoutURLs", "DefaultRedirectURI", "SupportedIdentityProviders", "ReadAttributes", "WriteAttributes",
               "PreventUserExistenceErrors", "TokenValidityUnits")
_CLIENT_FLAGS = ("GenerateSecret", "AllowedOAuthFlowsUserPoolClient", "EnableTokenRevocation",
                 "EnablePropagateAdditionalUserContextData")
_VALIDITY = ("AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity", "AuthSessionValidity")


@creates("AWS::Cognito::UserPoolClient",
         handles=("UserPoolId", *_CLIENT_API, *_CLIENT_FLAGS, *_VALIDITY),
         ignores={"AnalyticsConfiguration": "no Pinpoint analytics locally",
                  "RefreshTokenRotation": "refresh tokens are not rotated locally"})
def _user_pool_client(d: Deployer, lid: str, props: dict) -> Resource:
    args: dict[str, Any] = {"UserPoolId": props["UserPoolId"], **pick(props, *_CLIENT_API)}
    args.setdefault("ClientName", f"{d.stack.name}-{lid}"[:128])
    args.update({key: truthy(props[key]) for key in _CLIENT_FLAGS if key in props})
    args.update({key: numeric(props[key]) for key in _VALIDITY if key in props})
    client = d.client("cognito-idp").create_user_pool_client(**args)["UserPoolClient"]
    ids = {"ClientId": client["ClientId"], "ClientSecret": client.get("ClientSecret", "")}
    if d.embedded:  # the same id and secret at every start (see _user_pool)
        ids = moto_patches.keep_user_pool_client_id(d.stack.account_id, d.stack.region, str(props["UserPoolId"]),
                                                    client["ClientId"], f"{d.stack.name}/{lid}")
    return Resource(lid, "AWS::Cognito::UserPoolClient", ids["ClientId"], {**ids, "Name": client["ClientName"]})


@creates("AWS::Cognito::UserPoolGroup",
         handles=("UserPoolId", "GroupName", "Description", "Precedence", "RoleArn"))
def _user_pool_group(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "GroupName", limit=128)
    args: dict[str, Any] = {"UserPoolId": props["UserPoolId"], "GroupName": name,
                            **pick(props, "Description", "RoleArn")}
    if "Precedence" in props:
        args["Precedence"] = numeric(props["Precedence"])
    d.client("cognito-idp").create_group(**args)
    return Resource(lid, "AWS::Cognito::UserPoolGroup", name)


@creates("AWS::Cognito::UserPoolDomain",
         handles=("UserPoolId", "Domain"),
         ignores={"CustomDomainConfig": "no hosted UI locally", "ManagedLoginVersion": "no hosted UI locally",
                  "Routing": "no hosted UI locally"})
def _user_pool_domain(d: Deployer, lid: str, props: dict) -> Resource:
    d.client("cognito-idp").create_user_pool_domain(UserPoolId=props["UserPoolId"], Domain=str(props["Domain"]))
    d.warn(f"{lid}: the user pool domain {props['Domain']} is recorded; its hosted sign-in pages and OAuth endpoints "
           "are not served locally")
    return Resource(lid, "AWS::Cognito::UserPoolDomain", str(props["Domain"]), {"CloudFrontDistribution": ""})


@creates("AWS::Cognito::UserPoolUser",
         handles=("UserPoolId", "Username", "UserAttributes", "ValidationData", "ClientMetadata",
                  "DesiredDeliveryMediums", "ForceAliasCreation", "MessageAction"),
         ignores={})
def _user_pool_user(d: Deployer, lid: str, props: dict) -> Resource:
    args: dict[str, Any] = {"UserPoolId": props["UserPoolId"],
                            **pick(props, "Username", "UserAttributes", "ValidationData", "ClientMetadata",
                                   "DesiredDeliveryMediums", "MessageAction")}
    if "ForceAliasCreation" in props:
        args["ForceAliasCreation"] = truthy(props["ForceAliasCreation"])
    user = d.client("cognito-idp").admin_create_user(**args)["User"]
    return Resource(lid, "AWS::Cognito::UserPoolUser", user["Username"])


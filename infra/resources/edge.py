"""What stands in front of an app on AWS's edge (CloudFront distributions, WAF web ACLs): accepted so the template
deploys, with a warning that nothing of it runs locally; the app's own endpoints are served as they are."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from infra.resources.base import TAGS_IGNORED, Resource, creates

if TYPE_CHECKING:
    from infra.deploy import Deployer


def _id(d: Deployer, lid: str, length: int) -> str:
    return "E" + hashlib.sha256(f"{d.stack.name}/{lid}".encode()).hexdigest()[:length - 1].upper()


_NO_CDN = "no CloudFront locally: the distribution is not served; call its origins (the local endpoints) directly"


@creates("AWS::CloudFront::Distribution", handles=("DistributionConfig",), ignores=TAGS_IGNORED)
def _distribution(d: Deployer, lid: str, props: dict) -> Resource:
    d.warn(f"{lid}: {_NO_CDN}")
    distribution_id = _id(d, lid, 14)
    return Resource(lid, "AWS::CloudFront::Distribution", distribution_id,
                    {"Id": distribution_id, "DomainName": f"{distribution_id.lower()[1:]}.cloudfront.net"})


@creates("AWS::CloudFront::OriginAccessControl", handles=("OriginAccessControlConfig",))
def _origin_access_control(d: Deployer, lid: str, props: dict) -> Resource:
    control_id = _id(d, lid, 14)
    return Resource(lid, "AWS::CloudFront::OriginAccessControl", control_id, {"Id": control_id})


@creates("AWS::CloudFront::CloudFrontOriginAccessIdentity", handles=("CloudFrontOriginAccessIdentityConfig",))
def _origin_access_identity(d: Deployer, lid: str, props: dict) -> Resource:
    identity_id = _id(d, lid, 14)
    return Resource(lid, "AWS::CloudFront::CloudFrontOriginAccessIdentity", identity_id,
                    {"Id": identity_id, "S3CanonicalUserId": hashlib.sha256(identity_id.encode()).hexdigest() * 2})


def _policy(config: str, kind: str):
    """A distribution's cache, origin request or response headers policy: kept as a name (an id, as CloudFront's),
    since no distribution is served locally."""

    @creates(f"AWS::CloudFront::{kind}", handles=(config,))
    def create(d: Deployer, lid: str, props: dict) -> Resource:
        digest = hashlib.sha256(f"{d.stack.name}/{lid}".encode()).hexdigest()
        policy_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        return Resource(lid, f"AWS::CloudFront::{kind}", policy_id,
                        {"Id": policy_id,
                         "LastModifiedTime": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")})

    return create


for _config, _kind in (("CachePolicyConfig", "CachePolicy"), ("OriginRequestPolicyConfig", "OriginRequestPolicy"),
                       ("ResponseHeadersPolicyConfig", "ResponseHeadersPolicy")):
    _policy(_config, _kind)


_NO_WAF = "no WAF locally: requests are not inspected, every rule of the web ACL is left out"
_WEB_ACL = ("ApplicationConfig", "AssociationConfig", "CaptchaConfig", "ChallengeConfig", "CustomResponseBodies",
            "DataProtectionConfig", "DefaultAction", "Description", "MonetizationConfig", "Name",
            "OnSourceDDoSProtectionConfig", "Rules", "Scope", "TokenDomains", "VisibilityConfig")


@creates("AWS::WAFv2::WebACL", handles=_WEB_ACL, ignores=TAGS_IGNORED)
def _web_acl(d: Deployer, lid: str, props: dict) -> Resource:
    d.warn(f"{lid}: {_NO_WAF}")
    name = d.name_for(lid, props, "Name", limit=128)
    acl_id = hashlib.sha256(f"{d.stack.name}/{lid}".encode()).hexdigest()
    acl_id = f"{acl_id[:8]}-{acl_id[8:12]}-{acl_id[12:16]}-{acl_id[16:20]}-{acl_id[20:32]}"
    scope = "global" if props.get("Scope") == "CLOUDFRONT" else "regional"
    arn = d.arn("wafv2", f"{scope}/webacl/{name}/{acl_id}")
    return Resource(lid, "AWS::WAFv2::WebACL", f"{name}|{acl_id}|{props.get('Scope', 'REGIONAL')}", {
        "Arn": arn, "Id": acl_id, "Capacity": 0, "LabelNamespace": f"awswaf:{d.stack.account_id}:webacl:{name}:"})


@creates("AWS::WAFv2::WebACLAssociation", handles=("ResourceArn", "WebACLArn"))
def _web_acl_association(d: Deployer, lid: str, props: dict) -> Resource:
    return Resource(lid, "AWS::WAFv2::WebACLAssociation", f"{props['ResourceArn']}|{props['WebACLArn']}")

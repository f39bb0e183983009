"""ACM certificates a template requests (for its APIs' custom domains): made in moto's ACM."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, pick, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::CertificateManager::Certificate",
         handles=("DomainName", "SubjectAlternativeNames", "ValidationMethod", "DomainValidationOptions",
                  "KeyAlgorithm", "Tags"),
         ignores={"CertificateTransparencyLoggingPreference": "no certificate transparency logs locally",
                  "CertificateExport": "the certificate is not exported locally"},
         unsupported={"CertificateAuthorityArn": "no private certificate authorities locally"})
def _certificate(d: Deployer, lid: str, props: dict) -> Resource:
    acm = d.client("acm")
    args: dict[str, Any] = {"DomainName": props["DomainName"], "ValidationMethod": props.get("ValidationMethod", "DNS"),
                            **pick(props, "SubjectAlternativeNames", "KeyAlgorithm")}
    options = [pick(o, "DomainName", "ValidationDomain") for o in props.get("DomainValidationOptions") or []
               if "ValidationDomain" in o]
    if options:
        args["DomainValidationOptions"] = options
    if props.get("Tags"):
        args["Tags"] = [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()]
    arn = acm.request_certificate(**args)["CertificateArn"]
    if d.embedded:
        # CloudFormation completes a certificate once ACM has issued it (after the DNS or email validation, which
        # nothing does locally): the emulator's certificate is issued at once
        from infra import moto_patches

        moto_patches.issue_certificate(arn)
    return Resource(lid, "AWS::CertificateManager::Certificate", arn, {"CertificateArn": arn})

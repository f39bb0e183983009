"""SES identities."""
from __future__ import annotations

from typing import TYPE_CHECKING

from infra.resources.base import TAGS_IGNORED, Resource, creates

if TYPE_CHECKING:
    from infra.deploy import Deployer


@creates("AWS::SES::EmailIdentity", handles=("EmailIdentity",),
         ignores={"ConfigurationSetAttributes": "no configuration sets locally", "DkimAttributes": "no DKIM locally",
                  "DkimSigningAttributes": "no DKIM locally", "FeedbackAttributes": "no bounce feedback locally",
                  "MailFromAttributes": "mail is kept, not sent", **TAGS_IGNORED})
def _email_identity(d: Deployer, lid: str, props: dict) -> Resource:
    identity = props["EmailIdentity"]
    ses = d.client("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)
    return Resource(lid, "AWS::SES::EmailIdentity", identity)


@creates("AWS::SES::ConfigurationSet", handles=("Name",),
         ignores={"DeliveryOptions": "mail is kept, not sent", "ReputationOptions": "no reputation metrics locally",
                  "SendingOptions": "sending is always enabled locally",
                  "SuppressionOptions": "no suppression list locally", "TrackingOptions": "no open or click tracking",
                  "VdmOptions": "no Virtual Deliverability Manager locally",
                  "ArchivingOptions": "no mail archive locally", **TAGS_IGNORED})
def _configuration_set(d: Deployer, lid: str, props: dict) -> Resource:
    """A configuration set (moto's SES): mail sent naming it is accepted; its options are not applied."""
    name = d.name_for(lid, props, "Name", limit=64)
    d.client("ses").create_configuration_set(ConfigurationSet={"Name": name})
    return Resource(lid, "AWS::SES::ConfigurationSet", name)

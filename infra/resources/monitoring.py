"""The monitoring set-up `sam init` adds (resource group, Application Insights): accepted, no local effect."""
from __future__ import annotations

from typing import TYPE_CHECKING

from infra.resources.base import TAGS_IGNORED, Resource, creates

if TYPE_CHECKING:
    from infra.deploy import Deployer

_NOTHING_TO_MONITOR = "recorded only: no CloudWatch Application Insights locally"


@creates("AWS::ResourceGroups::Group", handles=("Name",),
         ignores={"Description": _NOTHING_TO_MONITOR, "ResourceQuery": _NOTHING_TO_MONITOR,
                  "Resources": _NOTHING_TO_MONITOR, "Configuration": _NOTHING_TO_MONITOR, **TAGS_IGNORED})
def _resource_group(d: Deployer, lid: str, props: dict) -> Resource:
    name = props["Name"]
    return Resource(lid, "AWS::ResourceGroups::Group", name,
                    {"Arn": d.arn("resource-groups", f"group/{name}")})


@creates("AWS::ApplicationInsights::Application", handles=("ResourceGroupName",),
         ignores={name: _NOTHING_TO_MONITOR for name in (
             "AttachMissingPermission", "AutoConfigurationEnabled", "CWEMonitorEnabled", "ComponentMonitoringSettings",
             "CustomComponents", "GroupingType", "LogPatternSets", "OpsCenterEnabled", "OpsItemSNSTopicArn",
             "SNSNotificationArn", "Tags")})
def _application_insights(d: Deployer, lid: str, props: dict) -> Resource:
    arn = d.arn("applicationinsights", f"application/resource-group/{props['ResourceGroupName']}")
    return Resource(lid, "AWS::ApplicationInsights::Application", arn, {"ApplicationARN": arn})

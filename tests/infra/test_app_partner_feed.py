"""Parity: the account-level pieces templates carry besides their functions (fixtures/apps/partner_feed). Before,
the deployer refused each of these types, and with them the whole template: IAM users, groups and access keys (and
policies naming users or groups), API Gateway's account settings, layer version permissions, Step Functions
activities, inline queue and topic policies, EventBridge archives; CloudFront distributions and WAF web ACLs now
deploy as names only, with a warning that they do not run locally.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "partner_feed" / "template.yaml"


def test_the_partner_s_key_from_the_template_signs_as_its_user(cloud):
    outputs = cloud.stack.outputs
    url = outputs["FeedUrl"]
    assert call(url)[:2] == (403, {"Message": "Forbidden"})
    request = AWSRequest(method="GET", url=url, headers={})
    SigV4Auth(Credentials(outputs["PartnerKeyId"], outputs["PartnerSecret"]), "lambda", "us-east-1").add_auth(request)
    status, body, _ = call(url, headers=dict(request.headers.items()))
    assert (status, body) == (200, {"userArn": outputs["PartnerArn"], "accessKey": outputs["PartnerKeyId"]})


def test_iam_holds_the_user_its_group_and_their_policies(cloud):
    iam, user = cloud.client("iam"), cloud.stack.outputs["PartnerArn"].rsplit("/", 1)[-1]
    [group] = iam.list_groups_for_user(UserName=user)["Groups"]
    assert iam.list_group_policies(GroupName=group["GroupName"])["PolicyNames"] == ["read-feed"]
    [attached] = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert "FeedPolicy" in attached["PolicyName"]
    assert {"Key": "partner", "Value": "acme"} in iam.list_user_tags(UserName=user)["Tags"]
    [key] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert (key["AccessKeyId"], key["Status"]) == (cloud.stack.outputs["PartnerKeyId"], "Active")


def test_the_account_level_settings_are_recorded(cloud):
    outputs = cloud.stack.outputs
    role = cloud.client("iam").get_role(RoleName=cloud.physical_id("ApiGatewayLogs"))["Role"]["Arn"]
    assert cloud.client("apigateway").get_account()["cloudwatchRoleArn"] == role
    layer, version = outputs["LayerArn"].split(":")[6], int(outputs["LayerArn"].split(":")[7])
    policy = json.loads(cloud.client("lambda").get_layer_version_policy(LayerName=layer, VersionNumber=version)
                        ["Policy"])
    assert [(s["Action"], s["Principal"]) for s in policy["Statement"]] == [("lambda:GetLayerVersion", "*")]
    activity = cloud.client("stepfunctions").describe_activity(activityArn=outputs["ActivityArn"])
    assert activity["name"] == "partner-approval"
    queue_policy = json.loads(cloud.client("sqs").get_queue_attributes(
        QueueUrl=outputs["InboxUrl"], AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert queue_policy["Statement"][0]["Principal"] == {"AWS": outputs["PartnerArn"]}
    topic = cloud.physical_id("Notices")
    topic_policy = json.loads(cloud.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert topic_policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    archive = cloud.client("events").describe_archive(ArchiveName=outputs["ArchiveName"])
    assert (json.loads(archive["EventPattern"]), archive["RetentionDays"]) == ({"source": ["partner.feed"]}, 30)


def test_the_edge_deploys_as_names_and_the_deploy_says_it_does_not_run(cloud):
    assert cloud.stack.outputs["CdnDomain"].endswith(".cloudfront.net")
    # a cache policy (serverless-patterns' cloudfront-* samples): a name, as CloudFront's ids look
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", cloud.stack.outputs["CachePolicyId"])
    warnings = cloud.stack.warnings
    assert any(w.startswith("Cdn: no CloudFront locally") for w in warnings), warnings
    assert any(w.startswith("Shield: no WAF locally") for w in warnings), warnings

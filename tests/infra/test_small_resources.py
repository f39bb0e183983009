"""Resource types the deploy refused, from aws-samples/serverless-patterns (firehose-transformation-sam-python,
eventbridge-cloudwatch, apigw-lambda-ses; 7 December): a log stream a delivery stream logs to, a log group's
resource policy (kept, not evaluated, as every IAM policy here), an SES configuration set that mail names."""
from __future__ import annotations

import json

from infra.cloud import LocalCloud

TEMPLATE = """
Resources:
  Group:
    Type: AWS::Logs::LogGroup
  Stream:
    Type: AWS::Logs::LogStream
    Properties:
      LogGroupName: !Ref Group
      LogStreamName: S3Delivery
  Unnamed:
    Type: AWS::Logs::LogStream
    Properties:
      LogGroupName: !Ref Group
  Policy:
    Type: AWS::Logs::ResourcePolicy
    Properties:
      PolicyName: EventsToLogs
      PolicyDocument: !Sub >
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "${Group.Arn}"}]}
  Mail:
    Type: AWS::SES::ConfigurationSet
    Properties:
      Name: CustomConfigSet
      Tags: [{Key: team, Value: mail}]
  Sender:
    Type: AWS::SES::EmailIdentity
    Properties:
      EmailIdentity: sender@example.com
Outputs:
  StreamName:
    Value: !Ref Stream
  UnnamedStream:
    Value: !Ref Unnamed
"""


def test_log_streams_resource_policies_and_configuration_sets_deploy(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    with LocalCloud(template, static_dir=None) as cloud:
        logs = cloud.client("logs")
        group = cloud.physical_id("Group")
        streams = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]}
        assert streams == {"S3Delivery", cloud.stack.outputs["UnnamedStream"]}
        assert cloud.stack.outputs["StreamName"] == "S3Delivery"
        logs.put_log_events(logGroupName=group, logStreamName="S3Delivery",
                            logEvents=[{"timestamp": 1, "message": "delivered"}])
        [policy] = logs.describe_resource_policies()["resourcePolicies"]
        assert policy["policyName"] == "EventsToLogs"
        assert json.loads(policy["policyDocument"])["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
        ses = cloud.client("ses")
        assert ses.describe_configuration_set(ConfigurationSetName="CustomConfigSet")["ConfigurationSet"] == \
            {"Name": "CustomConfigSet"}
        ses.send_email(Source="sender@example.com", Destination={"ToAddresses": ["to@example.com"]},
                       Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
                       ConfigurationSetName="CustomConfigSet")

"""A hand-written REST method whose AWS integration URI is an Fn::Join (aws-samples/serverless-patterns'
apigw-sqs-rest, APIGateway-SQS-ReceiveMessages): the deploy's check read a joined URI as empty and refused it
(before 7 December); the method now posts its form to the queue."""
from __future__ import annotations

import json
import urllib.request

from infra.cloud import LocalCloud
from infra.resources.base import template_text

TEMPLATE = """
Resources:
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: joined}
  Send:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: POST
      AuthorizationType: NONE
      Integration:
        Type: AWS
        IntegrationHttpMethod: POST
        PassthroughBehavior: NEVER
        RequestParameters:
          integration.request.header.Content-Type: "'application/x-www-form-urlencoded'"
        RequestTemplates:
          application/json: Action=SendMessage&MessageBody=$input.body
        IntegrationResponses: [{StatusCode: "200"}]
        Uri: !Join ["", ["arn:aws:apigateway:", !Ref "AWS::Region", ":sqs:path/", !Ref "AWS::AccountId", "/",
                         !GetAtt Inbox.QueueName]]
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: Send
    Properties: {RestApiId: !Ref Api, StageName: live}
  Inbox:
    Type: AWS::SQS::Queue
"""


def test_a_joined_uri_reads_as_its_text_with_each_function_an_x():
    joined = {"Fn::Join": ["", ["arn:aws:apigateway:", {"Ref": "AWS::Region"}, ":sqs:path/",
                                {"Fn::Sub": "${AWS::AccountId}/q"}]]}
    assert template_text(joined) == "arn:aws:apigateway:x:sqs:path/x/q"


def test_a_method_with_a_joined_uri_posts_its_form_to_the_queue(tmp_path):
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    with LocalCloud(tmp_path / "template.yaml", static_dir=None) as cloud:
        request = urllib.request.Request(cloud.endpoints["http_api"] + "/", data=b'{"hello": "world"}',
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert "SendMessageResponse" in json.loads(answer.read())
        messages = cloud.client("sqs").receive_message(QueueUrl=cloud.physical_id("Inbox"),
                                                       WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in messages] == ['{"hello": "world"}']

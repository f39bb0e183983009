"""REST methods' AWS integrations with services the check refused (before 7 December; aws-samples/serverless-
patterns' apigw-comprehend, apigw-ses-transformation): one botocore now speaks CBOR to but that also speaks JSON, as
API Gateway calls it (Comprehend DetectSentiment: the check read only botocore's first protocol), and a query-protocol
action (SES SendEmail, `email:action/SendEmail`, its form made by the mapping template, signed as SES signs); a JSON
service the emulator has no backend for (Translate) is still reported before anything deploys, and an emulator's
failure reaches the client as the service's InternalFailure, never as the emulator's error page."""
from __future__ import annotations

import json

import pytest
from http_calls import call

from api_gateway.config import ServiceCall
from infra.cloud import LocalCloud
from infra.deploy import UnsupportedTemplate

TEMPLATE = """
Resources:
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: sentiment}
  Sentiment:
    Type: AWS::ApiGateway::Resource
    Properties: {RestApiId: !Ref Api, ParentId: !GetAtt Api.RootResourceId, PathPart: detectSentiment}
  Detect:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Sentiment
      HttpMethod: POST
      AuthorizationType: NONE
      Integration:
        Type: AWS
        IntegrationHttpMethod: POST
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:SERVICE:action/ACTION
        RequestParameters:
          integration.request.header.Content-Type: "'application/x-amz-json-1.1'"
        IntegrationResponses: [{StatusCode: "200"}]
      MethodResponses: [{StatusCode: "200"}]
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: Detect
    Properties: {RestApiId: !Ref Api, StageName: prod}
"""


def test_a_json_speaking_service_is_called_and_an_unemulated_one_reported(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.replace("SERVICE", "comprehend").replace("ACTION", "DetectSentiment"))
    with LocalCloud(template, static_dir=None) as cloud:
        text = json.dumps({"Text": "What a day", "LanguageCode": "en"}).encode()
        status, sentiment, _ = call(f"http://127.0.0.1:{cloud.rest_gateway.port}/prod/detectSentiment",
                                    method="POST", body=text, headers={"Content-Type": "application/json"})
        assert status == 200, sentiment
        assert sentiment["Sentiment"] in ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")
        assert set(sentiment["SentimentScore"]) == {"Positive", "Negative", "Neutral", "Mixed"}
    template.write_text(TEMPLATE.replace("SERVICE", "translate").replace("ACTION", "TranslateText"))
    with pytest.raises(UnsupportedTemplate, match="translate:action/TranslateText"):
        LocalCloud(template, static_dir=None).start()


#: the mapping template: SendEmail's form, one line
FORM = ("#set($in = $input.path('$'))Action=SendEmail&Source=$util.urlEncode($in.from)"
        "#foreach($to in $in.to)&Destination.ToAddresses.member.$foreach.count=$util.urlEncode($to)#end"
        "&Message.Subject.Data=$util.urlEncode($in.subject)&Message.Body.Text.Data=$util.urlEncode($in.text)")

SES = """
Resources:
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: mail}
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
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:email:action/SendEmail
        PassthroughBehavior: WHEN_NO_TEMPLATES
        RequestParameters:
          integration.request.header.Content-Type: "'application/x-www-form-urlencoded'"
        RequestTemplates:
          application/json: >-
            FORM
        IntegrationResponses:
          - StatusCode: "200"
          - StatusCode: "500"
            SelectionPattern: '5\\d{2}'
      MethodResponses: [{StatusCode: "200"}, {StatusCode: "500"}]
  Identity:
    Type: AWS::SES::EmailIdentity
    Properties: {EmailIdentity: me@example.com}
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: Send
    Properties: {RestApiId: !Ref Api, StageName: dev}
"""


def test_a_query_protocol_action_gets_the_form_its_template_makes(tmp_path):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    template = tmp_path / "template.yaml"
    template.write_text(SES.replace("FORM", FORM))
    with LocalCloud(template, static_dir=None) as cloud:
        def send(body: dict) -> tuple[int, dict]:
            status, answer, _ = call(f"http://127.0.0.1:{cloud.rest_gateway.port}/dev/", method="POST",
                                     body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            return status, answer

        status, sent = send({"from": "me@example.com", "to": ["a@example.com", "b+x@example.com"],
                             "subject": "Hi & bye", "text": "plain"})
        assert status == 200, sent
        message_id = sent["SendEmailResponse"]["SendEmailResult"]["MessageId"]
        [message] = [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if m.id == message_id]
        assert message.source == "me@example.com" and message.subject == "Hi & bye"
        assert message.destinations["ToAddresses"] == ["a@example.com", "b+x@example.com"]
        # a form the emulator fails on (moto answers its HTML error page: an action name with a line break, as the
        # sample's multi-line template makes): the integration gets the service's failure, not that page
        status, failed = cloud.aws_action(ServiceCall("email", "SendEmail", "", (), (),
                                                      b"Action=SendEmail\n&Source=me@example.com\n"))
        assert status == 500 and json.loads(failed) == {"__type": "InternalFailure",
                                                        "message": "The request processing has failed."}

"""API Gateway as an S3 proxy (the API Gateway developer guide's tutorial; aws-samples/serverless-patterns'
apigw-s3-proxy): REST methods whose AWS integrations are S3 path overrides (`s3:path/{bucket}/{object}`, the
path's placeholders mapped from the method's path), with the integration's httpMethod, the object's bytes passed
through both ways and its headers mapped into the method response. Before 7 December an S3 path override was
refused at deploy ("only SQS and SNS path overrides are called locally")."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from infra.cloud import LocalCloud

TEMPLATE = """
Resources:
  Files:
    Type: AWS::S3::Bucket
    Properties: {BucketName: proxy-files}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: apigateway.amazonaws.com}, Action: sts:AssumeRole}]
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonS3FullAccess]
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: s3-proxy, BinaryMediaTypes: ["image/png"]}
  Folder:
    Type: AWS::ApiGateway::Resource
    Properties: {RestApiId: !Ref Api, ParentId: !GetAtt Api.RootResourceId, PathPart: "{folder}"}
  Item:
    Type: AWS::ApiGateway::Resource
    Properties: {RestApiId: !Ref Api, ParentId: !Ref Folder, PathPart: "{item}"}
  ListBuckets:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: AWS
        Credentials: !GetAtt Role.Arn
        IntegrationHttpMethod: GET
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:s3:path//
        IntegrationResponses:
          - StatusCode: 200
            ResponseParameters:
              method.response.header.Content-Type: integration.response.header.Content-Type
  ListFolder:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Folder
      HttpMethod: GET
      AuthorizationType: NONE
      RequestParameters: {method.request.path.folder: true}
      Integration:
        Type: AWS
        Credentials: !GetAtt Role.Arn
        IntegrationHttpMethod: GET
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:s3:path/{bucket}
        RequestParameters:
          integration.request.path.bucket: method.request.path.folder
        IntegrationResponses: [{StatusCode: 200}]
  PutItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Item
      HttpMethod: PUT
      AuthorizationType: NONE
      RequestParameters: {method.request.path.folder: true, method.request.path.item: true}
      Integration:
        Type: AWS
        Credentials: !GetAtt Role.Arn
        IntegrationHttpMethod: PUT
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:s3:path/{bucket}/{object}
        RequestParameters:
          integration.request.path.bucket: method.request.path.folder
          integration.request.path.object: method.request.path.item
          integration.request.header.Content-Type: method.request.header.Content-Type
        IntegrationResponses:
          - StatusCode: 200
            ResponseParameters: {method.response.header.ETag: integration.response.header.ETag}
  GetItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Item
      HttpMethod: GET
      AuthorizationType: NONE
      RequestParameters: {method.request.path.folder: true, method.request.path.item: true}
      Integration:
        Type: AWS
        Credentials: !GetAtt Role.Arn
        IntegrationHttpMethod: GET
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:s3:path/{bucket}/{object}
        RequestParameters:
          integration.request.path.bucket: method.request.path.folder
          integration.request.path.object: method.request.path.item
        IntegrationResponses:
          - StatusCode: 200
            ResponseParameters:
              method.response.header.Content-Type: integration.response.header.Content-Type
          - StatusCode: 404
            SelectionPattern: 4\\d{2}
            ResponseTemplates: {application/json: '{"message": "no such file"}'}
  DeleteItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Item
      HttpMethod: DELETE
      AuthorizationType: NONE
      RequestParameters: {method.request.path.folder: true, method.request.path.item: true}
      Integration:
        Type: AWS
        Credentials: !GetAtt Role.Arn
        IntegrationHttpMethod: DELETE
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:s3:path/{bucket}/{object}
        RequestParameters:
          integration.request.path.bucket: method.request.path.folder
          integration.request.path.object: method.request.path.item
        IntegrationResponses: [{StatusCode: 204}]
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: [ListBuckets, ListFolder, PutItem, GetItem, DeleteItem]
    Properties: {RestApiId: !Ref Api, StageName: files}
"""
PNG = b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR\\xff\\xfe binary"


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s3proxy")
    (folder / "template.yaml").write_text(TEMPLATE)
    with LocalCloud(folder / "template.yaml", static_dir=None) as running:
        yield running


def test_an_object_goes_in_and_comes_out_as_its_bytes_with_its_content_type(cloud):
    base = cloud.endpoints["http_api"]
    status, headers, _ = call(f"{base}/proxy-files/logo.png", "PUT", PNG, {"Content-Type": "image/png"})
    assert status == 200 and headers["ETag"]
    assert cloud.client("s3").get_object(Bucket="proxy-files", Key="logo.png")["Body"].read() == PNG
    status, headers, body = call(f"{base}/proxy-files/logo.png")
    assert (status, headers["Content-Type"], body) == (200, "image/png", PNG)


def test_listings_are_s3s_answers(cloud):
    base = cloud.endpoints["http_api"]
    call(f"{base}/proxy-files/a.txt", "PUT", b"a", {"Content-Type": "text/plain"})
    status, _, body = call(f"{base}/proxy-files")
    assert status == 200 and b"<Key>a.txt</Key>" in body
    status, headers, body = call(f"{base}/")
    assert status == 200 and b"<Name>proxy-files</Name>" in body and "xml" in headers["Content-Type"]


def test_a_missing_object_selects_the_4xx_response_and_a_deleted_one_is_gone(cloud):
    base = cloud.endpoints["http_api"]
    status, _, body = call(f"{base}/proxy-files/nothing.txt")
    assert (status, body) == (404, b'{"message": "no such file"}')
    call(f"{base}/proxy-files/gone.txt", "PUT", b"x", {"Content-Type": "text/plain"})
    assert call(f"{base}/proxy-files/gone.txt", "DELETE")[0] == 204
    assert call(f"{base}/proxy-files/gone.txt")[0] == 404

"""Parity: routes that require IAM authorization (fixtures/apps/signed_api: SAM's AWS_IAM default authorizer on a
REST API and an HTTP API). A request that is not signed with Signature Version 4 for execute-api is API Gateway's
403 (REST: {"message": "Missing Authentication Token"}, MissingAuthenticationTokenException; HTTP:
{"message": "Forbidden"}); a signed one reaches the function with the caller's access key, and the IAM user's ARN
when the emulator's IAM issued the key. IAM policies are not evaluated (nothing of IAM is, locally). Before, the
deployer refused the REST API's AWS_IAM scheme, and an HTTP API's AWS_IAM routes were served to anyone.
"""
from __future__ import annotations

from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "signed_api" / "template.yaml"


def get(url: str, key: str | None = None, secret: str = "secret", service: str = "execute-api"):
    headers = {}
    if key is not None:
        request = AWSRequest(method="GET", url=url, headers={})
        SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    return call(url, headers=headers)


def urls(cloud) -> tuple[str, str]:
    gateway = cloud.rest_gateway
    [http] = [api for api in gateway.http_apis if api.api.api_id == cloud.stack.outputs["HttpApiId"]]
    return cloud.endpoints["http_api"], f"http://127.0.0.1:{gateway.port}{http.base_path}"


def test_an_unsigned_request_is_refused_and_a_signed_one_names_its_caller(cloud):
    rest, http = urls(cloud)
    status, body, headers = get(rest + "/whoami")
    assert (status, body) == (403, {"message": "Missing Authentication Token"})
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert get(http + "/whoami")[:2] == (403, {"message": "Forbidden"})
    assert get(rest + "/open")[0] == 200  # Authorizer: NONE

    # signed for another service: refused
    assert get(rest + "/whoami", "AKIDLOCAL", service="s3")[0] == 403
    assert get(http + "/whoami", "AKIDLOCAL", service="s3")[0] == 403

    # a key the emulator's IAM never issued: served, with the key and no user
    status, body, _ = get(rest + "/whoami", "AKIDLOCAL")
    assert status == 200 and body["caller"]["accessKey"] == "AKIDLOCAL" and body["caller"]["userArn"] is None
    status, body, _ = get(http + "/whoami", "AKIDLOCAL")
    assert status == 200 and body["caller"]["accessKey"] == "AKIDLOCAL" and body["caller"]["userArn"] is None

    # an IAM user's key: its ARN and id
    iam = cloud.client("iam")
    user = iam.create_user(UserName="reporter")["User"]
    key = iam.create_access_key(UserName="reporter")["AccessKey"]
    status, body, _ = get(rest + "/whoami", key["AccessKeyId"], key["SecretAccessKey"])
    assert status == 200, body
    assert (body["caller"]["userArn"], body["caller"]["user"], body["caller"]["accountId"]) == \
        (user["Arn"], user["UserId"], "123456789012")
    status, body, _ = get(http + "/whoami", key["AccessKeyId"], key["SecretAccessKey"])
    assert status == 200 and body["caller"]["userArn"] == user["Arn"] and body["caller"]["userId"] == user["UserId"]

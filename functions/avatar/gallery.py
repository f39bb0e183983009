"""The avatar store in S3: key avatars/<type>/<size>/<name>.png; rendered on the first request, served after."""
from __future__ import annotations


from botocore.exceptions import ClientError

from core import aws, config, telemetry
from avatar import render

CONTENT_TYPE = "image/png"
URL_EXPIRY_SECONDS = 3600

def _client():
    return aws.client("s3")


def _bucket() -> str:
    return config.text("AVATAR_BUCKET")


def key(name: str, size: int, kind: str) -> str:
    """Where the avatar for these inputs lives in the bucket."""
    return f"avatars/{kind}/{size}/{name}.png"


def avatar(name: str, size: int, kind: str) -> bytes:
    """The PNG for validated inputs: from S3 if rendered before, else rendered now and stored."""
    s3, bucket, object_key = _client(), _bucket(), key(name, size, kind)
    try:
        return s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
    png = render.render(name, size, kind)
    s3.put_object(Bucket=bucket, Key=object_key, Body=png, ContentType=CONTENT_TYPE)
    telemetry.count("AvatarsRendered")
    return png


def ensure(name: str, size: int, kind: str) -> str:
    """Store the avatar if it is not stored yet; its key."""
    s3, bucket, object_key = _client(), _bucket(), key(name, size, kind)
    try:
        s3.head_object(Bucket=bucket, Key=object_key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NotFound"):
            raise
        with telemetry.step("render"):
            body = render.render(name, size, kind)
        s3.put_object(Bucket=bucket, Key=object_key, Body=body, ContentType=CONTENT_TYPE)
        telemetry.count("AvatarsRendered")
    return object_key


def url(object_key: str) -> str:
    """A presigned GET URL for a stored avatar: fetchable without credentials until it expires."""
    return _client().generate_presigned_url("get_object", Params={"Bucket": _bucket(), "Key": object_key},
                                            ExpiresIn=URL_EXPIRY_SECONDS)

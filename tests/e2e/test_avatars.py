"""Avatars on the deployment: GET /avatars/{name}.png answers deterministic PNGs at the requested size, keeps
them in the avatar bucket, and generate_avatar answers a presigned URL that serves the same bytes."""
from __future__ import annotations

import io
import urllib.error
import urllib.request
import uuid

import pytest
from PIL import Image


def fetch(url: str, accept: str = "image/png") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def avatar(cloud, name: str, **query) -> bytes:
    url = f"{cloud.endpoints['http_api']}/avatars/{name}.png"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    status, content_type, body = fetch(url)
    assert (status, content_type) == (200, "image/png"), body[:200]
    return body


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def fresh_name() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("kind", ["github", "identicon"])
def test_same_inputs_give_the_same_bytes_and_other_names_other_images(cloud, kind):
    name = fresh_name()
    first = avatar(cloud, name, size=64, type=kind)  # rendered and stored
    assert avatar(cloud, name, size=64, type=kind) == first  # served from the bucket
    others = {decoded(avatar(cloud, fresh_name(), size=64, type=kind)).tobytes() for _ in range(3)}
    assert decoded(first).tobytes() not in others and len(others) == 3


@pytest.mark.parametrize("size", [16, 77, 128, 512])
@pytest.mark.parametrize("kind", ["github", "identicon"])
def test_the_png_decodes_at_the_requested_size(cloud, kind, size):
    assert decoded(avatar(cloud, fresh_name(), size=size, type=kind)).size == (size, size)


def test_defaults_are_a_github_avatar_of_128(cloud):
    name = fresh_name()
    assert avatar(cloud, name) == avatar(cloud, name, size=128, type="github")
    assert decoded(avatar(cloud, name)).size == (128, 128)


@pytest.mark.parametrize("query", ["size=8", "size=1024", "size=abc", "type=round"])
def test_bad_sizes_and_types_are_invalid_requests(cloud, query):
    status, _, body = fetch(f"{cloud.endpoints['http_api']}/avatars/ada.png?{query}")
    assert status == 400 and b"invalid_request" in body


def test_rendered_avatars_are_kept_in_the_bucket_under_their_inputs(local_cloud, aws):
    name = fresh_name()
    png = avatar(local_cloud, name, size=40, type="identicon")
    bucket = local_cloud.physical_id("AvatarBucket")
    stored = aws("s3").get_object(Bucket=bucket, Key=f"avatars/identicon/40/{name}.png")
    assert stored["Body"].read() == png and stored["ContentType"] == "image/png"


def test_generate_avatar_answers_a_presigned_url_that_serves_it_without_auth(cloud, new_user):
    name = fresh_name()
    data = new_user("avatar").connect().request("generate_avatar", name=name, size=96, type="identicon")
    assert data["content_type"] == "image/png" and data["size"] == 96
    status, _, body = fetch(data["url"], accept="*/*")  # no Authorization header: the signature is the key
    assert status == 200
    assert body == avatar(cloud, name, size=96, type="identicon")

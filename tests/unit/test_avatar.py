"""Avatars as PROTOCOL.md specifies them: deterministic PNGs at the requested size, stored in S3, presigned URLs."""
import io
import urllib.parse
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws
from PIL import Image

BUCKET = "notifyx-avatars-test"


@dataclass(frozen=True)
class AvatarService:
    """The avatar service on moto's S3: its REST app, its internal API module, the renderer, and the bucket's
    S3 client."""

    app: Any
    service: ModuleType
    render: ModuleType
    s3: Any


@pytest.fixture
def avatar(monkeypatch) -> AvatarService:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("AVATAR_BUCKET", BUCKET)
        from avatar import app, render, service

        yield AvatarService(app=app.app, service=service, render=render, s3=boto3.client("s3"))


@pytest.fixture
def draw():
    """The renderer alone: pure functions, no AWS."""
    from avatar import render

    return render.render


@pytest.fixture
def http(avatar):
    with Client(avatar.app) as client:
        yield client.http


def fetch(http, path, accept="image/png"):
    return http.get(path, headers={"Accept": accept})


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


@pytest.mark.parametrize("kind", ["github", "identicon"])
@pytest.mark.parametrize("size", [16, 17, 100, 128, 512])
def test_renders_a_png_of_exactly_the_requested_size(draw, kind, size):
    assert pixels(draw("ada", size, kind)).size == (size, size)


@pytest.mark.parametrize("kind", ["github", "identicon"])
def test_same_inputs_give_the_same_bytes_and_names_give_different_images(draw, kind):
    render = draw
    assert render("ada", 128, kind) == render("ada", 128, kind)
    images = {pixels(render(name, 64, kind)).tobytes() for name in ("ada", "bob", "carol", "dave", "eve")}
    assert len(images) == 5


def test_the_two_types_are_different_designs(draw):
    render = draw
    assert pixels(render("ada", 64, "github")).tobytes() != pixels(render("ada", 64, "identicon")).tobytes()


@pytest.mark.parametrize("size", [16, 17, 120, 333])
def test_github_avatars_are_symmetric_left_to_right(draw, size):
    image = pixels(draw("ada", size, "github"))
    assert image.tobytes() == image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    assert len(image.getcolors()) == 2  # one colour on the background


@pytest.mark.parametrize("size", [16, 17, 120, 333])
def test_identicons_are_symmetric_both_ways(draw, size):
    image = pixels(draw("ada", size, "identicon"))
    assert image.tobytes() == image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).tobytes()
    assert image.tobytes() == image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()


def test_get_avatar_answers_png_bytes_and_stores_them_under_their_inputs(avatar, http):
    response = fetch(http, "/avatars/ada.png?size=64&type=identicon")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.body == avatar.render.render("ada", 64, "identicon")
    stored = avatar.s3.get_object(Bucket=BUCKET, Key="avatars/identicon/64/ada.png")
    assert stored["Body"].read() == response.body and stored["ContentType"] == "image/png"


def test_defaults_are_github_at_128(avatar, http):
    response = fetch(http, "/avatars/ada.png", accept="*/*")
    assert pixels(response.body).size == (128, 128)
    assert response.body == avatar.render.render("ada", 128, "github")


def test_a_stored_avatar_is_served_from_s3(avatar, http):
    # what is in the bucket is what is served: the render is not repeated
    avatar.s3.put_object(Bucket=BUCKET, Key="avatars/github/32/ada.png", Body=b"stored bytes")
    assert fetch(http, "/avatars/ada.png?size=32").body == b"stored bytes"


@pytest.mark.parametrize("path", [
    "/avatars/ada.png?size=15", "/avatars/ada.png?size=513", "/avatars/ada.png?size=big",
    "/avatars/ada.png?type=square", "/avatars/ada.jpg", "/avatars/.png", "/avatars/a%20b.png",
])
def test_bad_sizes_types_and_names_are_invalid_requests(avatar, http, path):
    response = fetch(http, path)
    assert response.status_code == 400
    assert b"invalid_request" in response.body


def test_service_generate_answers_a_presigned_url_of_the_stored_png(avatar):
    answer = avatar.service.handler({"op": "generate", "name": "ada", "size": 48, "type": "identicon"}, None)
    assert answer["ok"], answer
    data = answer["data"]
    assert data["content_type"] == "image/png" and data["size"] == 48
    url = urllib.parse.urlparse(data["url"])
    assert "avatars/identicon/48/ada.png" in url.path and "Signature" in url.query
    stored = avatar.s3.get_object(Bucket=BUCKET, Key="avatars/identicon/48/ada.png")["Body"].read()
    assert stored == avatar.render.render("ada", 48, "identicon")


def test_service_generate_defaults_and_refusals(avatar):
    handler = avatar.service.handler
    assert handler({"op": "generate", "name": "ada"}, None)["data"]["size"] == 128
    for bad in ({"name": "ada", "size": 9}, {"name": "ada", "type": "x"}, {"name": ""}, {"name": "a/b"}):
        answer = handler({"op": "generate", **bad}, None)
        assert answer["ok"] is False and answer["error"]["code"] == "invalid_request", bad

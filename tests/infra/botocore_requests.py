"""What the botocore patches' parity tests share (test_endpoint_patch.py, test_serializer_patch.py): clients with
test keys, a before-call answer, the user agent with its feature codes in a fixed order, and the patches set in or
out for a while."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.awsrequest import AWSResponse

from infra import moto_patches


class _Body(io.BytesIO):
    def stream(self, **_):
        yield self.getvalue()


def empty_answer(url: str) -> tuple[AWSResponse, dict]:
    """What a before-call handler returns to end a call there: an empty 200."""
    return AWSResponse(url, 200, {}, _Body(b"")), {}


def client(service: str, **kwargs):
    """A client of `service` in us-east-1 with test keys, of a session of its own."""
    return boto3.session.Session(region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s").client(
        service, **kwargs)


def normalized_user_agent(user_agent: str) -> str:
    """botocore lists a request's feature codes from a set: their order varies"""
    return re.sub(r"\bm/(\S+)", lambda m: "m/" + ",".join(sorted(m.group(1).split(","))), user_agent)


@contextmanager
def patches(names: tuple[str, ...], applied: bool) -> Iterator[None]:
    """The named patches in (`applied`) or out for the block, then as they were (the local cloud applies the
    botocore ones for the life of the process)."""
    found = [moto_patches.patch(name) for name in names]
    were = [p.applied for p in found]
    for p in found:
        (p.apply if applied else p.revert)()
    try:
        yield
    finally:
        for p, was in zip(found, were, strict=True):
            (p.apply if was else p.revert)()

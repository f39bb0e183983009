"""The one AWS account the local cloud stands for: its region, its account id and the credentials every client
of it signs with. Written here only; the data planes, the deployer, the runtime and the tests read it.

The account is moto's default (tests/infra/test_account.py checks they agree); the credentials can sign for no
real account, so nothing that runs here can reach AWS by mistake.
"""
from __future__ import annotations

import os
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ACCESS_KEY_ID = SECRET_ACCESS_KEY = SESSION_TOKEN = "testing"
#: the Route 53 hosted zone of API Gateway's regional endpoints in REGION: a custom domain name's alias target
APIGATEWAY_REGIONAL_ZONE = "Z1UJRXOUMOOFQ8"

#: boto3 keyword arguments: the keys a client of the local cloud signs with
KEYS = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}
#: the same, in the local cloud's region
CREDENTIALS = {"region_name": REGION, **KEYS}

#: the environment a process needs for boto3 to sign for the local cloud (functions get it from the runtime)
ENVIRONMENT = {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
               "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY, "AWS_SESSION_TOKEN": SESSION_TOKEN}


def region_of_this_process() -> str:
    """The region this process's boto3 clients sign for (AWS_REGION, else AWS_DEFAULT_REGION), else the local
    cloud's: the emulator answers a request from the backend of the region it was signed for."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or REGION


def client(service: str, endpoint_url: str | None, **kwargs: Any) -> Any:
    """A boto3 client of ``service`` at ``endpoint_url``, in the local cloud's region, with its credentials."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, **{**CREDENTIALS, **kwargs})

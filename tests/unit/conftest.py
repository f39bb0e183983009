"""Unit tests import the functions' code as Lambda does (functions/ on sys.path) and never reach a real AWS."""
import os
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))

# moto's mock_aws intercepts every call; these only make sure nothing can sign for a real account
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_ENDPOINT_URL", None)  # a leftover local-cloud endpoint would bypass mock_aws


import pytest  # noqa: E402 - after the environment above is set


@pytest.fixture(autouse=True)
def fresh_aws_clients():
    """Each test's clients are made under its own moto mock (core.aws shares them per container)."""
    from core import aws

    aws.forget()
    yield
    aws.forget()


@pytest.fixture
def atomic_moto_dynamodb():
    """DynamoDB applies each request atomically; moto's in-memory backend does not (a TransactWriteItems
    deep-copies the table while other threads write to it): the local cloud's own lock, here too."""
    from infra import moto_patches

    moto_patches.patch("dynamodb-atomic-requests").apply()

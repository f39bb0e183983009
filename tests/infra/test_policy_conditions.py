"""The IAM condition evaluation of S3 bucket policies (infra/moto_patches.py, s3-bucket-policy-conditions-evaluated):
each operator against a request context, a key the request lacks, ...IfExists, Null, negated operators."""
from __future__ import annotations

import pytest

from infra.moto_patches import _condition_holds

CONTEXT = {"aws:securetransport": "true", "aws:principalaccount": "123456789012", "aws:sourceip": "10.1.2.3",
           "s3:max-keys": "50"}


@pytest.mark.parametrize("operator, key, expected, holds", [
    ("Bool", "aws:SecureTransport", "false", False),
    ("Bool", "aws:SecureTransport", "True", True),
    ("StringEquals", "aws:PrincipalAccount", ["111111111111", "123456789012"], True),
    ("StringNotEquals", "aws:PrincipalAccount", "123456789012", False),
    ("StringEqualsIgnoreCase", "aws:PrincipalAccount", "123456789012", True),
    ("StringLike", "aws:PrincipalAccount", "1234*", True),
    ("StringNotLike", "aws:PrincipalAccount", "9*", True),
    ("NumericLessThanEquals", "s3:max-keys", "50", True),
    ("NumericGreaterThan", "s3:max-keys", "50", False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", True),
    ("NotIpAddress", "aws:SourceIp", ["10.0.0.0/8", "192.168.0.0/16"], False),
    # a key the request lacks: false, unless ...IfExists or a negated operator; Null tests presence
    ("StringEquals", "aws:SourceVpce", "vpce-1", False),
    ("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", True),
    ("StringNotEquals", "aws:SourceVpce", "vpce-1", True),
    ("Null", "aws:SourceVpce", "true", True),
    ("Null", "aws:SecureTransport", "true", False),
    ("ForAnyValue:StringEquals", "aws:PrincipalAccount", "123456789012", True),
    ("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", False),  # not evaluated locally: never holds
])
def test_a_condition_holds_as_iam_evaluates_it(operator, key, expected, holds):
    assert _condition_holds(operator, key, expected, CONTEXT) is holds

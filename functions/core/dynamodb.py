"""DynamoDB through PynamoDB: what every service's data access shares."""
from __future__ import annotations


def condition_failed(error: Exception) -> bool:
    """True when a PynamoDB write failed only because its condition did not hold (ConditionalCheckFailed)."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"

"""DynamoDB through PynamoDB: what every service's data access shares."""
from __future__ import annotations


def expiry(now: float, seconds: int) -> int:
    """The value of a Time to Live attribute for an item DynamoDB should delete `seconds` after `now`: epoch
    seconds, a whole Number."""
    return int(now) + seconds


def condition_failed(error: Exception) -> bool:
    """True when a PynamoDB write failed only because its condition did not hold (ConditionalCheckFailed)."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"

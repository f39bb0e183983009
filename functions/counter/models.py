"""The Counters table: per user, entry "total" holds the count and "tx#<txid>" entries are reservations."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from core import config

TOTAL = "total"
PREPARED, COMMITTED, ABORTED = "prepared", "committed", "aborted"


def reservation_entry(txid: str) -> str:
    return f"tx#{txid}"


class CounterEntry(Model):
    """One entry of a user's counter: the total (``published``) or one transaction's reservation (``state``)."""

    class Meta:
        table_name = config.text("COUNTERS_TABLE")

    user_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)
    published = NumberAttribute(null=True)
    state = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    # a resolved reservation's epoch seconds of expiry (DynamoDB's Time to Live); the total never has one
    expires_at = NumberAttribute(null=True)

"""The Transactions table: the coordinator's durable log of each publish transaction."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from core import config

# unfinished: preparing (no decision yet), commit / abort (decided, participants not all told yet)
PREPARING, COMMIT, ABORT = "preparing", "commit", "abort"
# finished
COMMITTED, ABORTED = "committed", "aborted"


class TransactionsByState(GlobalSecondaryIndex):
    """Sparse: a finished record drops its lease_until, so the index holds only what recovery may need."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    lease_until = NumberAttribute(range_key=True)


class TransactionRecord(Model):
    """One publish transaction: its input (for recovery to replay), state, decision reason and lease."""

    class Meta:
        table_name = config.text("TRANSACTIONS_TABLE")

    txid = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()
    lease_until = NumberAttribute(null=True)
    transaction = JSONAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    began_at = NumberAttribute(null=True)  # epoch seconds: the publisher's start, from which the lease counts
    # ISO 8601: the state machine's steps write the time their state was entered ($$.State.EnteredTime)
    decided_at = UnicodeAttribute(null=True)
    completed_at = UnicodeAttribute(null=True)
    # epoch seconds: DynamoDB's Time to Live deletes a finished record after TRANSACTION_RETENTION_SECONDS
    expires_at = NumberAttribute(null=True)

    by_state = TransactionsByState()

"""The Mail table: one item per queued mail, its delivery state and the claim of the worker sending it."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from core import config

QUEUED, SENT, FAILED = "queued", "sent", "failed"


class Mail(Model):
    """A mail and its delivery: status queued -> sent | failed; attempts counts claimed send attempts."""

    class Meta:
        table_name = config.text("MAIL_TABLE")
        region = config.region()

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    owner_email = UnicodeAttribute(null=True)
    to = UnicodeAttribute()
    subject = UnicodeAttribute()
    message = UnicodeAttribute()
    status = UnicodeAttribute(default=QUEUED)
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    # the worker currently sending it: a random token and the epoch second its claim lapses
    claim = UnicodeAttribute(null=True)
    claimed_until = NumberAttribute(null=True)

    def public(self) -> dict:
        """The mail as the contract shows it to its owner."""
        return {"id": self.id, "status": self.status, "attempts": int(self.attempts or 0), "error": self.error}

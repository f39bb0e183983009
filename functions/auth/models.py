"""The auth service's tables: Users (by email, GSI by_id) and Tokens (by sha256 of the token)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from core import config


class UserById(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_id"
        projection = AllProjection()

    id = UnicodeAttribute(hash_key=True)


class User(Model):
    """A registered user; ``password`` is an encoded scrypt hash (see auth.passwords), never the password."""

    class Meta:
        table_name = config.text("USERS_TABLE")

    email = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    password = UnicodeAttribute()
    created_at = UnicodeAttribute()
    failed_logins = NumberAttribute(null=True)  # wrong passwords in a row (a good login resets it)
    locked_until = NumberAttribute(null=True)  # epoch seconds: logins are refused until then (backoff)

    by_id = UserById()

    def public(self) -> dict:
        return {"id": self.id, "email": self.email, "created_at": self.created_at}


class Token(Model):
    """A session: only the token's sha256 is stored, so a leaked table does not leak sessions."""

    class Meta:
        table_name = config.text("TOKENS_TABLE")

    token_hash = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()
    # DynamoDB's TTL reaper deletes it eventually on AWS; expires_at is what is enforced
    ttl = NumberAttribute()

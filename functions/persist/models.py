"""The persist service's tables (template.yaml: Topics, Subscriptions, Notifications, Receipts)."""
from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from core import config


class Topic(Model):
    """A topic; its item is where commits take their seq, one conditional write each."""

    class Meta:
        table_name = config.text("TOPICS_TABLE")

    name = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()  # user id
    owner_email = UnicodeAttribute()
    status = UnicodeAttribute(default="active")  # active | closed
    created_at = UnicodeAttribute()
    last_seq = NumberAttribute(default=0)  # seq of the last committed notification (gapless)
    last_txid = UnicodeAttribute(null=True)  # the notification holding last_seq: a later commit finishes it if needed
    last_recipients = NumberAttribute(null=True)
    delivered_seq = NumberAttribute(default=0)  # the gateway has pushed every seq up to this one
    subscribers = NumberAttribute(default=0)
    targeted_count = NumberAttribute(default=0)  # committed notifications that had a `to` list


class SubscriptionsByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    topic = UnicodeAttribute(range_key=True)


class SubscriptionsByEmail(GlobalSecondaryIndex):
    """Resolves a publish's `to` emails to subscribed user ids with one query per email."""

    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()

    topic = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(range_key=True)


class Subscription(Model):
    """A user's durable subscription: their inbox is the topic's notifications after from_seq."""

    class Meta:
        table_name = config.text("SUBSCRIPTIONS_TABLE")

    topic = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    email = UnicodeAttribute()
    created_at = UnicodeAttribute()
    from_seq = NumberAttribute()  # topic.last_seq when subscribing
    targeted_base = NumberAttribute(default=0)  # topic.targeted_count when subscribing
    direct_count = NumberAttribute(default=0)  # targeted notifications addressed to this user since subscribing
    direct_seq = NumberAttribute(null=True)  # seq of the last one counted in direct_count (makes counting idempotent)
    seen_count = NumberAttribute(default=0)  # notifications of this inbox the user marked seen
    by_user = SubscriptionsByUser()
    by_email = SubscriptionsByEmail()


class NotificationsByTopic(GlobalSecondaryIndex):
    """Sparse: only committed notifications carry a seq."""

    class Meta:
        index_name = "by_topic"
        projection = AllProjection()

    topic = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)


class Notification(Model):
    """A notification, stored once whatever the number of subscribers; id = the publish txid."""

    class Meta:
        table_name = config.text("NOTIFICATIONS_TABLE")

    id = UnicodeAttribute(hash_key=True)
    topic = UnicodeAttribute()
    status = UnicodeAttribute()  # prepared | committed | rolled_back
    seq = NumberAttribute(null=True)
    publisher = UnicodeAttribute(null=True)  # user id
    from_email = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    to_emails = ListAttribute(of=UnicodeAttribute, null=True)  # absent = every subscriber
    to_ids = UnicodeSetAttribute(null=True)  # the subscribed users those emails resolved to
    created_at = UnicodeAttribute(null=True)
    recipients = NumberAttribute(null=True)
    by_topic = NotificationsByTopic()


class Receipt(Model):
    """A user marked a notification seen (exists at most once: the first ack counts)."""

    class Meta:
        table_name = config.text("RECEIPTS_TABLE")

    user_id = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute(range_key=True)
    seen_at = UnicodeAttribute()

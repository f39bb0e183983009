"""The gateway's table (template.yaml: Connections): one item per user with their live connection ids."""
from __future__ import annotations

import os

from pynamodb.attributes import UnicodeAttribute, UnicodeSetAttribute
from pynamodb.models import Model


class Connection(Model):
    """A connected user; fan-out BatchGets these by user id (100 keys per call)."""

    class Meta:
        table_name = os.environ.get("CONNECTIONS_TABLE", "notifyx-ConnectionsTable")

    user_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    connections = UnicodeSetAttribute(null=True)  # DynamoDB drops an emptied set: absent = offline


def add(user_id: str, email: str | None, connection_id: str) -> None:
    actions = [Connection.connections.add({connection_id})]
    if email:
        actions.append(Connection.email.set(email))
    Connection(user_id).update(actions=actions)


def remove(user_id: str, connection_id: str) -> None:
    Connection(user_id).update(actions=[Connection.connections.delete({connection_id})])


def live(user_ids: list[str]) -> list[tuple[str, str]]:
    """(user id, connection id) of every live connection of these users."""
    found = Connection.batch_get(list(dict.fromkeys(user_ids)), attributes_to_get=["user_id", "connections"])
    return [(c.user_id, cid) for c in found for cid in sorted(c.connections or ())]

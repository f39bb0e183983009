"""The gateway's table (template.yaml: Connections): one item per user with their live connection ids."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from core import config, telemetry
from core.dynamodb import condition_failed


class Connection(Model):
    """A connected user; fan-out BatchGets these by user id (100 keys per call)."""

    class Meta:
        table_name = config.text("CONNECTIONS_TABLE")

    user_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    connections = UnicodeSetAttribute(null=True)  # DynamoDB drops an emptied set: absent = offline
    # "<session> <connection id>" of each live connection opened with a session token: logout closes them
    sessions = UnicodeSetAttribute(null=True)
    endpoint = UnicodeAttribute(null=True)  # the @connections endpoint of the user's connections
    open_count = NumberAttribute(null=True)  # on the OPEN item only


#: the item counting every user's open connections (user ids are "u-<hex>": no user has this id)
OPEN = "#open"


def _entry(session: str, connection_id: str) -> str:
    return f"{session} {connection_id}"


def _counted(delta: int) -> int:
    """Add `delta` to the count of open connections; the count after, also emitted as the OpenConnections gauge
    (every change of the count goes through here)."""
    item = Connection(OPEN)
    item.update(actions=[Connection.open_count.add(delta)])
    count = int(item.open_count or 0)
    telemetry.gauge("OpenConnections", count)
    return count


def add(user_id: str, email: str | None, connection_id: str, session: str | None = None,
        endpoint: str | None = None) -> int | None:
    """Remember a connection; the open connections count after, or None if it was already known (a repeat)."""
    actions = [Connection.connections.add({connection_id})]
    if email:
        actions.append(Connection.email.set(email))
    if session:
        actions.append(Connection.sessions.add({_entry(session, connection_id)}))
    if endpoint:
        actions.append(Connection.endpoint.set(endpoint))
    try:
        Connection(user_id).update(actions=actions, condition=~Connection.connections.contains(connection_id))
    except UpdateError as e:
        if not condition_failed(e):
            raise
        Connection(user_id).update(actions=actions)
        return None
    return _counted(1)


def remove(user_id: str, connection_id: str, session: str | None = None) -> int | None:
    """Forget a connection; the open connections count after, or None if it was not known (a repeat)."""
    actions = [Connection.connections.delete({connection_id})]
    if session:
        actions.append(Connection.sessions.delete({_entry(session, connection_id)}))
    try:
        Connection(user_id).update(actions=actions, condition=Connection.connections.contains(connection_id))
    except UpdateError as e:
        if not condition_failed(e):
            raise
        if session:
            Connection(user_id).update(actions=actions[1:])
        return None
    return _counted(-1)


def live(user_ids: list[str]) -> list[tuple[str, str]]:
    """(user id, connection id) of every live connection of these users."""
    found = Connection.batch_get(list(dict.fromkeys(user_ids)), attributes_to_get=["user_id", "connections"])
    return [(c.user_id, cid) for c in found for cid in sorted(c.connections or ())]


def live_at(user_ids: list[str]) -> list[tuple[str, str, str]]:
    """(user id, connection id, @connections endpoint) of every live connection of these users that has one."""
    found = Connection.batch_get(list(dict.fromkeys(user_ids)),
                                 attributes_to_get=["user_id", "connections", "endpoint"])
    return [(c.user_id, cid, c.endpoint) for c in found if c.endpoint for cid in sorted(c.connections or ())]


def session_open(user_id: str, connection_id: str, session: str) -> bool:
    """Whether this connection's session has not been ended by a logout."""
    try:
        item = Connection.get(user_id, consistent_read=True, attributes_to_get=["user_id", "sessions"])
    except DoesNotExist:
        return False
    return _entry(session, connection_id) in (item.sessions or ())


def end_session(user_id: str, session: str) -> tuple[list[str], str | None, int | None]:
    """Forget every connection of the session: (their ids, the @connections endpoint for closing them, the open
    connections count after, None if none was open)."""
    try:
        item = Connection.get(user_id, consistent_read=True)
    except DoesNotExist:
        return [], None, None
    ids = sorted(e.split(" ", 1)[1] for e in (item.sessions or ()) if e.split(" ", 1)[0] == session)
    count = None
    for connection_id in ids:  # one conditional write each: a $disconnect racing this one is counted once
        after = remove(user_id, connection_id, session=session)
        if after is not None:
            count = after
    return ids, item.endpoint, count

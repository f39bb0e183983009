"""DynamoDB Time to Live: the local cloud deletes expired items, as DynamoDB's background process does.

What AWS documents: once a table's TTL is enabled, an item whose TTL attribute holds a Number of epoch seconds
in the past is deleted by a background process "within a few days", without using write capacity; until then
reads still return it. The deletion reaches the table's stream as a REMOVE whose ``userIdentity`` is
``{"type": "Service", "principalId": "dynamodb.amazonaws.com"}`` (what a stream filter tells TTL deletions
apart by). An item whose attribute is not a Number, or is more than five years in the past, is never deleted.

Here a sweeper thread looks at every table with TTL enabled every ``NOTIFYX_TTL_SWEEP_SECONDS`` (60; 0 turns it
off), so expiry takes a minute rather than days. It finds expired items in a copy of moto's table taken under
the emulator's DynamoDB lock (the scan itself holds up no request), then deletes each with a DeleteItem
conditioned on it being expired still (a write that moved its TTL forward in between wins), through the
emulator's own request path: the deletion is journaled with the durable state and reaches the stream, marked as
the service's, as on AWS.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from infra import account, moto_patches

logger = logging.getLogger("notifyx.ttl")

#: items whose TTL is further in the past than this are ignored (AWS: five years)
IGNORED_AFTER = 5 * 365 * 24 * 3600


def sweep_interval() -> float:
    """Seconds between sweeps (``NOTIFYX_TTL_SWEEP_SECONDS``); 0 means no sweeper."""
    return float(os.environ.get("NOTIFYX_TTL_SWEEP_SECONDS", "60"))


def items_of(table: Any) -> list[Any]:
    """The table's items as they are now: a copy of moto's dicts made under moto_patches.DYNAMODB_LOCK (C-speed
    list copies: about a millisecond for 10,000 items), so that the scan itself holds up no request."""
    with moto_patches.DYNAMODB_LOCK:
        if not table.range_key_attr:
            return list(table.items.values())
        return [item for bucket in list(table.items.values()) for item in list(bucket.values())]


def expired(table: Any, now: float) -> tuple[str, list[dict[str, Any]]] | None:
    """(TTL attribute, keys in the wire format) of the table's expired items; None if its TTL is not enabled.
    An item read here may change before it is deleted: the delete is conditioned on it being expired still."""
    ttl = dict(table.ttl)
    attribute = ttl.get("AttributeName")
    if ttl.get("TimeToLiveStatus") != "ENABLED" or not attribute:
        return None
    oldest = now - IGNORED_AFTER
    keys = []
    for item in items_of(table):
        value = item.attrs.get(attribute)
        if value is None or value.type != "N":
            continue
        try:
            when = float(value.value)
        except (TypeError, ValueError):
            continue
        if oldest <= when <= now:
            key = {table.hash_key_attr: item.hash_key.to_json()}
            if table.range_key_attr:
                key[table.range_key_attr] = item.range_key.to_json()
            keys.append(key)
    return attribute, keys


class TimeToLive:
    """The sweeper of one local cloud: ``start()``, ``stop()``, or ``sweep()`` once (tests, a forced pass)."""

    def __init__(self, client: Any, interval: float | None = None) -> None:
        self.client = client  # a DynamoDB client of the local cloud's endpoint
        self.interval = sweep_interval() if interval is None else interval
        self.deleted = 0
        self._regional: dict[str, Any] = {}  # clients of the same endpoint for tables in other regions
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TimeToLive:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="dynamodb-ttl", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a failed pass is logged and tried again at the next one
                logger.exception("TTL sweep failed")

    def sweep(self, now: float | None = None) -> int:
        """Delete every expired item of every table with TTL enabled; the number deleted."""
        from moto.dynamodb.models import dynamodb_backends

        now = time.time() if now is None else now
        with moto_patches.DYNAMODB_LOCK:
            # every region's tables: a template's (or a handler's) table may live outside the local cloud's region
            tables = [(region, name, table) for region, backend in list(dynamodb_backends[account.ACCOUNT_ID].items())
                      for name, table in list(backend.tables.items())]
        found = [(region, name, expired(table, now)) for region, name, table in tables]
        deleted = 0
        for region, name, candidates in found:
            if candidates is None:
                continue
            attribute, keys = candidates
            for key in keys:
                if self._stop.is_set():
                    return deleted
                deleted += self.delete(name, key, attribute, now, region)
        self.deleted += deleted
        return deleted

    def _client_of(self, region: str | None) -> Any:
        """The sweeper's client, or one of the same endpoint for another region."""
        if region is None or region == self.client.meta.region_name:
            return self.client
        client = self._regional.get(region)
        if client is None:
            client = self._regional[region] = account.client("dynamodb", self.client.meta.endpoint_url,
                                                             region_name=region)
        return client

    def delete(self, table: str, key: dict[str, Any], attribute: str, now: float, region: str | None = None) -> bool:
        """Delete one item (of `table` in `region`, by default the client's) if it is expired still; whether it
        was."""
        client = self._client_of(region)
        with moto_patches.deleting_as_the_service():
            try:
                client.delete_item(
                    TableName=table, Key=key, ConditionExpression="#ttl BETWEEN :oldest AND :now",
                    ExpressionAttributeNames={"#ttl": attribute},
                    ExpressionAttributeValues={":oldest": {"N": str(int(now - IGNORED_AFTER))},
                                               ":now": {"N": repr(float(now))}})
            except client.exceptions.ConditionalCheckFailedException:
                return False  # written since: its new TTL (or none) stands
            except client.exceptions.ResourceNotFoundException:
                return False  # the table was deleted meanwhile
        return True

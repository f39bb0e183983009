"""Durable state of the local cloud: what `notifyx up` keeps under `.notifyx/state/` across restarts and crashes.

Design (docs/local-cloud.md, "Persistence"): a snapshot plus a write-ahead journal of *after-images*.

- Every mutating request the emulator answers passes through moto's model code, over HTTP (other processes)
  and in process alike (InProcessRequests, DirectDynamoDB, the sandboxes' calls forwarded by CallAnswerer). The
  ``persist-*`` patches of infra/moto_patches.py call this module *after* the request succeeded, before its
  answer leaves: the journal gets the new state of what the request touched (a DynamoDB item or its absence,
  an SQS message with its receive count and visibility deadline or its deletion, an S3 object, a sent mail).
  Lambda's asynchronous events are journaled when accepted and when finished (infra/async_invoke.py); the next
  start queues the unfinished ones again.
  Records are idempotent ("this key now is X"), so replaying them over a snapshot taken at any moment after
  the journal was started gives the state of the last record. What one request changed is one record (the
  items of a TransactWriteItems or a BatchWriteItem, an S3 object and its metadata): a crash keeps all or none.
- A record is one ``os.write`` of a length-prefixed pickle to the journal: once the call returns, the bytes are
  in the operating system's page cache and survive ``kill -9`` of the process (not a power cut: no fsync per
  write). A record cut short by a crash is ignored at the next start (its request was never answered).
- At start-up the snapshot is loaded and the journal replayed into the freshly deployed template's tables,
  queues, buckets and SES; then a new snapshot is written and the journal started afresh (also at a clean stop,
  and when the journal passes JOURNAL_LIMIT bytes).

Not kept, by design: WebSocket connections (clients reconnect; sockets open at the crash get their
``$disconnect`` at the next start), Step Functions executions (a running one died with the process; the
application's recovery finishes its work), DynamoDB stream records not yet read, Lambda sandboxes and logs.
"""
from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import pickle
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra import account, moto_patches

logger = logging.getLogger("notifyx.persistence")

DEFAULT_STATE_DIR = Path(".notifyx") / "state"
SNAPSHOT = "snapshot.pickle"
LOCK = "lock"
FORMAT = 1
#: a journal longer than this is folded into a new snapshot (in the background)
JOURNAL_LIMIT = 64 * 1024 * 1024
_HEADER = struct.Struct("<I")
ACCOUNT = account.ACCOUNT_ID
REGION = account.REGION


class StateError(Exception):
    """The state directory cannot be used (another local cloud holds it, or it is unreadable)."""


def _journal_name(number: int) -> str:
    return f"journal-{number:06d}.log"


def _backends() -> tuple[Any, Any, Any, Any]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends
    from moto.ses.models import ses_backends
    from moto.sqs.models import sqs_backends

    return (dynamodb_backends[ACCOUNT][REGION], sqs_backends[ACCOUNT][REGION], s3_backends[ACCOUNT]["global"],
            ses_backends[ACCOUNT][REGION])


# =========================================================================== the state, as plain data
class State:
    """What is kept: DynamoDB items, SQS messages, S3 objects, sent mail, open WebSocket connections."""

    def __init__(self) -> None:
        self.items: dict[str, dict[tuple[Any, Any], dict[str, Any]]] = {}
        self.messages: dict[str, tuple[str, bytes]] = {}   # message id -> (queue name, pickled moto Message)
        self.objects: dict[str, dict[str, list[Any]]] = {}  # bucket -> key -> [bytes, metadata]
        self.sent: list[bytes] = []                        # pickled moto SES messages
        self.sent_count = 0
        self.sockets: dict[str, dict[str, Any]] = {}        # connection id -> what its $disconnect needs
        self.executions: dict[str, dict[str, Any]] = {}     # Step Functions execution ARN -> its description
        #: Lambda asynchronous events accepted and not finished: request id -> (function, event JSON, queued at)
        self.events: dict[str, tuple[str, str, float]] = {}
        #: Cognito user pools' users, groups' members and issued tokens: pool id -> a pickle of them (cognito_pool)
        self.pools: dict[str, bytes] = {}

    # ------------------------------------------------------------------ journal records
    def apply(self, record: tuple) -> None:
        kind = record[0]
        if kind == "request":  # the records of one request (a transaction's items): all of them or none
            for part in record[1]:
                self.apply(part)
        elif kind == "ddb":
            _, table, hash_key, range_key, attrs = record
            items = self.items.setdefault(table, {})
            if attrs is None:
                items.pop((hash_key, range_key), None)
            else:
                items[(hash_key, range_key)] = attrs
        elif kind == "sqs":
            _, message_id, queue, message = record
            if queue is None:
                self.messages.pop(message_id, None)
            else:
                self.messages[message_id] = (queue, message)
        elif kind == "sqs-purge":
            for message_id in [m for m, (q, _) in self.messages.items() if q == record[1]]:
                del self.messages[message_id]
        elif kind == "s3":
            _, bucket, key, value, metadata = record
            if value is None:
                self.objects.get(bucket, {}).pop(key, None)
            else:
                self.objects.setdefault(bucket, {})[key] = [value, dict(metadata or {})]
        elif kind == "s3-meta":
            _, bucket, key, metadata = record
            stored = self.objects.get(bucket, {}).get(key)
            if stored is not None:
                stored[1] = dict(metadata)
        elif kind == "ses":
            self.sent.append(record[1])
            self.sent_count = record[2]
        elif kind == "sfn":
            _, arn, fields = record
            self.executions[arn] = {**self.executions.get(arn, {}), **fields}
        elif kind == "lambda+":
            self.events[record[1]] = record[2]
        elif kind == "lambda-":
            self.events.pop(record[1], None)
        elif kind == "cognito":
            _, pool_id, data = record
            if data is None:
                self.pools.pop(pool_id, None)
            else:
                self.pools[pool_id] = data
        elif kind == "ws+":
            self.sockets[record[1]] = record[2]
        elif kind == "ws-":
            self.sockets.pop(record[1], None)

    # ------------------------------------------------------------------ to and from moto
    @classmethod
    def capture(cls, sockets: dict[str, dict[str, Any]], events: dict[str, tuple[str, str, float]]) -> State:
        """The state of moto's backends now (the caller holds the locks that keep writes out)."""
        dynamodb, sqs, s3, ses = _backends()
        state = cls()
        for name, table in dynamodb.tables.items():
            items: dict[tuple[Any, Any], dict[str, Any]] = {}
            for hash_key, value in table.items.items():
                if table.range_key_attr is None:
                    items[(_plain(hash_key), None)] = _plain_attrs(value.attrs)
                else:
                    for range_key, item in value.items():
                        items[(_plain(hash_key), _plain(range_key))] = _plain_attrs(item.attrs)
            state.items[name] = items
        for name, queue in sqs.queues.items():
            for message in list(queue._messages):
                state.messages[message.id] = (name, pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
        for name, bucket in s3.buckets.items():
            objects = state.objects.setdefault(name, {})
            for key in list(bucket.keys.keys()):
                found = bucket.keys.get(key)
                if found is not None and hasattr(found, "value"):
                    objects[key] = [found.value, dict(found.metadata)]
        for machine in _step_functions().state_machines:
            for execution in list(machine.executions):
                state.executions[execution.execution_arn] = _execution_fields(execution)
        state.pools = {pool.id: cognito_pool(pool) for pool in _cognito().user_pools.values()}
        state.sent = [pickle.dumps(m, pickle.HIGHEST_PROTOCOL) for m in ses.sent_messages]
        state.sent_count = ses.sent_message_count
        state.sockets = dict(sockets)
        state.events = dict(events)
        return state

    def install(self) -> dict[str, int]:
        """Put this state into moto's backends (the freshly deployed resources); counts of what was restored."""
        from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

        new = functools.partial(DynamoType.__new__, DynamoType)

        dynamodb, sqs, s3, ses = _backends()
        counts = {"items": 0, "messages": 0, "objects": 0, "mails": 0, "executions": 0}
        missing: set[str] = set()
        for name, items in self.items.items():
            table = dynamodb.tables.get(name)
            if table is None:
                if items:
                    missing.add(f"table {name}")
                continue
            ranged = table.range_key_attr is not None
            for (hash_key, range_key), attrs in items.items():
                item = Item.__new__(Item)
                item.hash_key, item.range_key = _dynamo(hash_key, new), _dynamo(range_key, new) if ranged else None
                item.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
                # stored items passed moto's size check when written
                dict.update(item.attrs, {name: _dynamo(value, new) for name, value in attrs.items()})
                if ranged:
                    table.items[item.hash_key][item.range_key] = item
                else:
                    table.items[item.hash_key] = item
            counts["items"] += len(items)
        queues: dict[str, list[Any]] = {}
        for queue_name, message in self.messages.values():
            queues.setdefault(queue_name, []).append(pickle.loads(message))
        for name, messages in queues.items():
            queue = sqs.queues.get(name)
            if queue is None:
                missing.add(f"queue {name}")
                continue
            messages.sort(key=lambda m: (m.sent_timestamp or 0, m.sequence_number or ""))
            with queue._messages_lock:
                queue._messages.extend(messages)
            counts["messages"] += len(messages)
        for name, objects in self.objects.items():
            if name not in s3.buckets:
                if objects:
                    missing.add(f"bucket {name}")
                continue
            for key, (value, metadata) in objects.items():
                stored = s3.put_object(name, key, value, disable_notification=True)
                stored.set_metadata(dict(metadata))
            counts["objects"] += len(objects)
        counts["executions"] = self._install_executions(missing)
        counts["users"] = self._install_pools(missing)
        ses.sent_messages.extend(pickle.loads(m) for m in self.sent)
        ses.sent_message_count = max(ses.sent_message_count, self.sent_count)
        counts["mails"] = len(self.sent)
        if missing:
            logger.warning("durable state: not restored, the template no longer has: %s", ", ".join(sorted(missing)))
        return counts


    def _install_pools(self, missing: set[str]) -> int:
        """Each user pool's users, their groups and the tokens it issued, into the pool of that id the template
        made again (its id is of the stack and logical id: infra.moto_patches.keep_user_pool_id). A group the
        template makes is the template's (its description, precedence, role), with its members kept."""
        pools = _cognito().user_pools
        restored = 0
        for pool_id, data in self.pools.items():
            pool = pools.get(pool_id)
            if pool is None:
                missing.add(f"user pool {pool_id}")
                continue
            kept = pickle.loads(data)
            for name, group in kept["groups"].items():
                made = pool.groups.get(name)
                if made is not None:  # the template's group, with the members the kept one had
                    made.users = group.users
                    for user in group.users:
                        user.groups = {made if g is group else g for g in user.groups}
                else:
                    pool.groups[name] = group
            pool.users = kept["users"]
            pool.refresh_tokens, pool.access_tokens, pool.id_tokens = (
                kept["refresh_tokens"], kept["access_tokens"], kept["id_tokens"])
            restored += len(pool.users)
        return restored

    def _install_executions(self, missing: set[str]) -> int:
        """Step Functions executions: per state machine, those that were running and the newest finished ones
        (EXECUTION_RETENTION in all, as the running cloud keeps them). One that was running died with the
        process: it comes back ABORTED (what the application's recovery looks for)."""
        from moto.stepfunctions.models import Execution

        from infra.moto_patches import retained_executions

        backend = _step_functions()
        machines = {m.arn: m for m in backend.state_machines}
        by_machine: dict[str, list[dict[str, Any]]] = {}
        for fields in self.executions.values():
            by_machine.setdefault(fields["state_machine_arn"], []).append(fields)
        restored = 0
        for arn, executions in by_machine.items():
            machine = machines.get(arn)
            if machine is None:
                missing.add(f"state machine {arn.rsplit(':', 1)[-1]}")
                continue
            executions.sort(key=lambda f: f["start_date"])
            # the running cloud's rule (the journal keeps every execution it saw start, so taking the newest
            # EXECUTION_RETENTION of them brought forgotten ones back after a crash, and dropped a long-running
            # one that transaction recovery looks for)
            executions = retained_executions(executions, lambda f: f.get("status", "RUNNING") == "RUNNING")
            for fields in executions:
                execution = Execution(REGION, ACCOUNT, machine.name, fields["name"], arn, fields["input"])
                execution.start_date = fields["start_date"]
                if fields.get("status", "RUNNING") == "RUNNING":
                    execution.status = "ABORTED"
                    execution.stop_date = datetime.now(UTC)
                    execution.error = "States.Runtime"
                    execution.cause = "the local cloud stopped while this execution ran"
                else:
                    execution.status = fields["status"]
                    execution.stop_date = fields.get("stop_date")
                    execution.output = fields.get("output")
                    execution.error, execution.cause = fields.get("error"), fields.get("cause")
                execution.exec_status = execution.status  # what the emulator's bounded history looks at
                machine.executions.append(execution)
                restored += 1
        return restored


def _cognito() -> Any:
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[ACCOUNT][REGION]


def cognito_pool(pool: Any) -> bytes:
    """What is kept of a user pool: its users (their passwords, attributes, status, groups), its groups and the
    tokens it issued (so a session survives a restart: a refresh token still refreshes, an access token still
    names its user), pickled together (users and groups name each other)."""
    return pickle.dumps({"users": pool.users, "groups": pool.groups, "refresh_tokens": pool.refresh_tokens,
                         "access_tokens": pool.access_tokens, "id_tokens": pool.id_tokens}, pickle.HIGHEST_PROTOCOL)


#: Cognito actions that change nothing a pool keeps (the others are journaled: CognitoIdpResponse.call_action)
_COGNITO_READS = ("Describe", "List", "Get", "AdminGet")


def cognito_request(original: Callable) -> Callable:
    """CognitoIdpResponse.call_action: after a request that may have changed a pool (a sign-up, a confirmation, a
    sign-in, which issues tokens, a password or attribute change, a group membership, a deletion), every pool's
    kept state is journaled as one record (a developer's pools are small; which pool a request touched is named
    by a pool id, a client id or a token, depending on the action)."""
    def call_action(self: Any) -> Any:
        answer = original(self)
        store = _store
        if store is not None and not self._get_action().startswith(_COGNITO_READS):
            backend = _cognito()
            made = [("cognito", pool.id, cognito_pool(pool)) for pool in list(backend.user_pools.values())]
            gone = [("cognito", pool_id, None) for pool_id in store.pools_kept - set(backend.user_pools)]
            store.pools_kept = set(backend.user_pools)
            store.append_request(made + gone)
        return answer

    return call_action


def _step_functions() -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[ACCOUNT][REGION]


def _execution_fields(execution: Any) -> dict[str, Any]:
    """What DescribeExecution answers about an execution (moto's parser Execution, or one restored)."""
    status = getattr(execution, "exec_status", None) or getattr(execution, "status", "RUNNING")
    output = execution.output
    return {"name": execution.name, "state_machine_arn": execution.state_machine_arn,
            "input": execution.execution_input, "start_date": execution.start_date,
            "status": str(getattr(status, "value", status)), "stop_date": execution.stop_date,
            "output": output if output is None or isinstance(output, str) else json.dumps(output),
            "error": execution.error, "cause": execution.cause}


def _read_records(path: Path) -> tuple[list[tuple], int]:
    """The journal's complete records, and the length they fill; a record cut short by a crash ends it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    records: list[tuple] = []
    offset, size = 0, len(data)
    while offset + _HEADER.size <= size:
        (length,) = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if end > size:
            logger.warning("durable state: the last journal record was cut short (a crash while writing it); "
                           "its request was never answered")
            break
        try:
            records.append(pickle.loads(data[offset + _HEADER.size:end]))
        except Exception:  # noqa: BLE001 - a torn record: what follows cannot be trusted
            logger.warning("durable state: an unreadable journal record at byte %d of %s; later ones dropped",
                           offset, path.name)
            break
        offset = end
    return records, offset


# =========================================================================== the store
class Store:
    """A state directory in use by one local cloud: restores it at start, journals every write, snapshots."""

    def __init__(self, directory: str | Path, *, journal_limit: int | None = None) -> None:
        self.directory = Path(directory)
        self.journal_limit = JOURNAL_LIMIT if journal_limit is None else journal_limit
        self.sockets: dict[str, dict[str, Any]] = {}
        self.orphans: dict[str, dict[str, Any]] = {}  # sockets open when the previous run ended
        self.events: dict[str, tuple[str, str, float]] = {}  # Lambda async events accepted, not finished
        self.unfinished_events: dict[str, tuple[str, str, float]] = {}  # ... when the previous run ended
        self.restored: dict[str, int] = {}
        #: the user pools whose state the journal has (one deleted gets a record that drops it)
        self.pools_kept: set[str] = set()
        self._lock = threading.RLock()   # one record at a time; a snapshot holds it
        self._fd: int | None = None
        self._journal_number = 0
        self._written = 0
        self._lock_file: Any = None
        self._compacting = False

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> Store:
        """Take the directory, restore its state into moto's backends, start journaling (moto_patches.persist-*)."""
        from infra import moto_patches

        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_directory()
        started = time.perf_counter()
        state, tail = self._load()
        replayed = self.restored["journal_records"]
        self.restored = {**state.install(), "journal_records": replayed}
        self.orphans = dict(state.sockets)
        self.sockets = dict(state.sockets)
        self.unfinished_events = dict(state.events)
        self.events = dict(state.events)
        self.restored["async_events"] = len(state.events)
        self.pools_kept = set(_cognito().user_pools)
        global _store
        _store = self
        moto_patches.apply_persistence()
        # records go on after the last complete one (a torn record is cut off); the next clean stop, or a
        # journal past its limit, folds them into a snapshot
        path = self.directory / _journal_name(self._journal_number)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, tail)
        os.lseek(self._fd, tail, os.SEEK_SET)
        self._written = tail
        if self._written > self.journal_limit:
            self._compact_later()
        self.restored["seconds_ms"] = int((time.perf_counter() - started) * 1000)
        logger.info("durable state %s: restored %s", self.directory, self.restored)
        return self

    def close(self) -> None:
        """Write a final snapshot (a clean stop leaves no journal to replay), stop journaling, free the directory."""
        from infra import moto_patches

        global _store
        try:
            if self._fd is not None:
                self._snapshot()
        finally:
            moto_patches.revert_persistence()
            if _store is self:
                _store = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def _take_directory(self) -> None:
        handle = open(self.directory / LOCK, "a+")  # noqa: SIM115 - held while the cloud runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StateError(f"{self.directory} is in use by another local cloud (pid {holder}); stop it, or "
                             "use --state-dir / --ephemeral") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _load(self) -> tuple[State, int]:
        """The snapshot with the journals after it replayed; (the state, the length of the last journal's
        complete records), self._journal_number the last journal."""
        snapshot_path = self.directory / SNAPSHOT
        state, first = State(), 0
        if snapshot_path.exists():
            try:
                saved = pickle.loads(snapshot_path.read_bytes())
            except Exception as exc:
                raise StateError(f"{snapshot_path} cannot be read ({type(exc).__name__}); `notifyx reset` clears "
                                 "the state") from None
            if saved.get("format") != FORMAT:
                raise StateError(f"{snapshot_path} is of another format; `notifyx reset` clears the state")
            state, first = saved["state"], saved["journal"]
            state.__dict__.setdefault("events", {})  # a snapshot written before async events were kept
            state.__dict__.setdefault("pools", {})  # ... before Cognito's users were
        replayed, tail = 0, 0
        self._journal_number = max(first, 1)
        for path in sorted(self.directory.glob("journal-*.log")):
            number = int(path.stem.split("-")[1])
            if number < first:
                path.unlink()  # already folded into the snapshot (a crash between writing it and deleting these)
                continue
            records, tail = _read_records(path)
            for record in records:
                state.apply(record)
            replayed += len(records)
            self._journal_number = number
        self.restored = {"journal_records": replayed}
        return state, tail

    # ------------------------------------------------------------------ snapshots
    def _snapshot(self) -> None:
        """Fold everything into a new snapshot: start journal n+1, capture, write, drop the older journals."""
        from infra import moto_patches

        with moto_patches.DYNAMODB_LOCK, self._lock:
            old = sorted(self.directory.glob("journal-*.log"))
            self._journal_number += 1
            fd = os.open(self.directory / _journal_name(self._journal_number),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._written = fd, 0
            state = State.capture(self.sockets, self.events)
            data = pickle.dumps({"format": FORMAT, "journal": self._journal_number, "state": state},
                                pickle.HIGHEST_PROTOCOL)
        tmp = self.directory / (SNAPSHOT + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / SNAPSHOT)
        current = self.directory / _journal_name(self._journal_number)
        for path in old:
            if path != current:
                path.unlink(missing_ok=True)

    def _compact_later(self) -> None:
        if self._compacting:
            return
        self._compacting = True

        def compact() -> None:
            try:
                if self._fd is not None:
                    self._snapshot()
            except Exception:  # noqa: BLE001 - the journal keeps growing; the next start folds it
                logger.exception("durable state: compaction failed")
            finally:
                self._compacting = False

        threading.Thread(target=compact, name="notifyx-state-compaction", daemon=True).start()

    # ------------------------------------------------------------------ records
    def append(self, record: tuple) -> None:
        """One record to the journal (the caller holds self._lock when the record must follow a state it read)."""
        payload = pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._fd is None:
                return
            os.write(self._fd, _HEADER.pack(len(payload)) + payload)
            self._written += len(payload) + _HEADER.size
            if self._written > self.journal_limit:
                self._compact_later()

    def append_request(self, records: list[tuple]) -> None:
        """What one request changed, as one record (a crash keeps all of it or none)."""
        if records:
            self.append(records[0] if len(records) == 1 else ("request", records))

    def websocket_session(self, connection_id: str, info: dict[str, Any] | None) -> None:
        """A WebSocket connection was accepted (info: what its $disconnect needs) or ended (None)."""
        with self._lock:
            if info is None:
                self.sockets.pop(connection_id, None)
                self.append(("ws-", connection_id))
            else:
                self.sockets[connection_id] = info
                self.append(("ws+", connection_id, info))

    def lambda_event(self, request_id: str, event: tuple[str, str, float] | None) -> None:
        """A Lambda asynchronous event was accepted ((function, event JSON, queued at, epoch seconds)) or has
        finished (None: run, sent to its failure destinations, or dropped)."""
        with self._lock:
            if event is None:
                if self.events.pop(request_id, None) is not None:
                    self.append(("lambda-", request_id))
            else:
                self.events[request_id] = event
                self.append(("lambda+", request_id, event))

    def forget_orphan(self, connection_id: str) -> None:
        """An orphaned socket got its $disconnect: it is not one any more."""
        with self._lock:
            self.orphans.pop(connection_id, None)
            self.sockets.pop(connection_id, None)
            self.append(("ws-", connection_id))


_store: Store | None = None


def store() -> Store | None:
    """The open store, or None (an ephemeral cloud)."""
    return _store


def reset(directory: str | Path) -> bool:
    """Delete the state directory; False when it did not exist. StateError while a local cloud holds it."""
    directory = Path(directory)
    if not directory.exists():
        return False
    lock = directory / LOCK
    if lock.exists():
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StateError(f"{directory} is in use by a running local cloud: stop it first") from None
    shutil.rmtree(directory)
    return True


# =========================================================================== called by the persist-* patches
def _dynamodb_keys(body: dict[str, Any], operation: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if operation == "put_item":
        yield body["TableName"], body["Item"]
    elif operation in ("update_item", "delete_item"):
        yield body["TableName"], body["Key"]
    elif operation == "batch_write_item":
        for table, requests in body["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    yield table, request["PutRequest"]["Item"]
                elif "DeleteRequest" in request:
                    yield table, request["DeleteRequest"]["Key"]
    elif operation == "transact_write_items":
        for entry in body["TransactItems"]:
            for op_type, op in entry.items():
                if op_type == "Put":
                    yield op["TableName"], op["Item"]
                elif op_type in ("Update", "Delete"):
                    yield op["TableName"], op["Key"]


def dynamodb_method(operation: str) -> Callable[[Callable], Callable]:
    """A DynamoHandler method that journals the after-image of every item it wrote, once it succeeded.

    Both the HTTP path (call_action) and DirectDynamoDB call these methods under moto_patches.DYNAMODB_LOCK,
    so records follow the order in which the writes happened.
    """
    def build(original: Callable) -> Callable:
        def method(self: Any) -> Any:
            result = original(self)
            store = _store
            if store is not None:
                _journal_items(store, self.dynamodb_backend, self.body, operation)
            return result

        return method

    return build


def _plain(value: Any) -> tuple[str, Any]:
    """A moto DynamoType as plain data (type, value): pickled and loaded at C speed, unlike the objects."""
    kind, inner = value.type, value.value
    if kind == "L":
        return kind, [_plain(v) for v in inner]
    if kind == "M":
        return kind, {k: _plain(v) for k, v in inner.items()}
    if isinstance(inner, list):
        return kind, list(inner)
    return kind, inner


def _plain_attrs(attrs: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {name: _plain(value) for name, value in attrs.items()}


def _dynamo(plain: tuple[str, Any], new: Callable[[], Any] | None = None) -> Any:
    """The DynamoType of _plain's data (what DynamoType's constructor builds, without parsing DynamoDB JSON)."""
    if new is None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        new = functools.partial(DynamoType.__new__, DynamoType)
    kind, inner = plain
    value = new()
    value.type = kind
    if kind == "L":
        value.value = [_dynamo(v, new) for v in inner]
    elif kind == "M":
        value.value = {k: _dynamo(v, new) for k, v in inner.items()}
    else:
        value.value = inner
    return value


def _journal_items(store: Store, backend: Any, body: dict[str, Any], operation: str) -> None:
    """The after-images of what one request wrote, as one record: a kill -9 between two items of a
    TransactWriteItems would otherwise bring half a transaction back (a counter's reservation committed, its
    total not), which DynamoDB never shows."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    records = []
    for table_name, source in _dynamodb_keys(body, operation):
        table = backend.tables.get(table_name)
        if table is None:
            continue
        hash_key = DynamoType(source[table.hash_key_attr])
        range_key = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
        found = table.items.get(hash_key)
        if range_key is not None and found is not None:
            found = found.get(range_key)
        records.append(("ddb", table_name, _plain(hash_key), _plain(range_key) if range_key is not None else None,
                        _plain_attrs(found.attrs) if found is not None else None))
    store.append_request(records)


def _record_message(store: Store, queue: Any, message: Any) -> None:
    store.append(("sqs", message.id, queue.name, pickle.dumps(message, pickle.HIGHEST_PROTOCOL)))


def sqs_add_message(original: Callable) -> Callable:
    """Queue.add_message (SendMessage, SendMessageBatch, a move to the dead-letter queue): journal the message."""
    def add_message(self: Any, message: Any) -> None:
        original(self, message)
        store = _store
        if store is not None:
            with store._lock:
                if any(m is message for m in reversed(self._messages)):
                    _record_message(store, self, message)

    return add_message


def sqs_receive_message(original: Callable) -> Callable:
    """SQSBackend.receive_message: journal each received message (receive count, visibility deadline)."""
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> list[Any]:
        result = original(self, queue_name, *args, **kwargs)
        store = _store
        if store is not None and result:
            queue = self.get_queue(queue_name)
            ids = {m.id for m in result}
            with store._lock:
                for message in list(queue._messages):  # a message deleted meanwhile is not resurrected
                    if message.id in ids:
                        _record_message(store, queue, message)
        return result

    return receive_message


def sqs_delete_message(original: Callable) -> Callable:
    """Queue.delete_message: journal the deletion of the message(s) the receipt handle named."""
    def delete_message(self: Any, receipt_handle: str) -> None:
        store = _store
        ids = [m.id for m in self._messages if m.had_receipt_handle(receipt_handle)] if store is not None else ()
        original(self, receipt_handle)
        if store is not None and ids:
            with store._lock:
                remaining = {m.id for m in self._messages}
                for message_id in ids:
                    if message_id not in remaining:
                        store.append(("sqs", message_id, None, None))

    return delete_message


def sqs_change_visibility(original: Callable) -> Callable:
    """SQSBackend.change_message_visibility: journal the message's new visibility deadline."""
    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, *args: Any, **kwargs: Any) -> None:
        original(self, queue_name, receipt_handle, *args, **kwargs)
        store = _store
        if store is not None:
            queue = self.get_queue(queue_name)
            with store._lock:
                for message in list(queue._messages):
                    if message.had_receipt_handle(receipt_handle):
                        _record_message(store, queue, message)

    return change_message_visibility


def sqs_purge_queue(original: Callable) -> Callable:
    def purge_queue(self: Any, queue_name: str) -> None:
        original(self, queue_name)
        store = _store
        if store is not None:
            store.append(("sqs-purge", self.get_queue(queue_name).name))

    return purge_queue


_s3_request = threading.local()


def s3_request(original: Callable) -> Callable:
    """S3Response.key_response / bucket_response: the records of one S3 request go to the journal as one, when it
    ends. moto stores a PutObject's object, then sets its metadata (Content-Type): one record each let a kill -9
    between them bring the object back without its Content-Type, which S3 never shows."""
    def response(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _store is None or getattr(_s3_request, "records", None) is not None:  # not kept, or a nested call
            return original(self, *args, **kwargs)
        records: list[tuple] = []
        _s3_request.records = records
        try:
            return original(self, *args, **kwargs)
        finally:
            _s3_request.records = None
            store = _store
            if store is not None:  # what changed is journaled even if the request then failed
                store.append_request(records)

    return response


def _journal_s3(store: Store, record: tuple) -> None:
    pending = getattr(_s3_request, "records", None)
    if pending is None:
        store.append(record)  # a call outside a request (the local cloud's own)
    else:
        pending.append(record)


def s3_put_object(original: Callable) -> Callable:
    """S3Backend.put_object (PutObject, multipart completion): journal the object's bytes."""
    def put_object(self: Any, bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
        key = original(self, bucket_name, key_name, value, *args, **kwargs)
        store = _store
        if store is not None:
            _journal_s3(store, ("s3", bucket_name, key_name, key.value, dict(key.metadata)))
        return key

    return put_object


def s3_set_metadata(original: Callable) -> Callable:
    """FakeKey.set_metadata (PutObject's Content-Type and x-amz-meta-*): journal the metadata."""
    def set_metadata(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        store = _store
        if store is not None:
            _journal_s3(store, ("s3-meta", self.bucket_name, self.name, dict(self.metadata)))

    return set_metadata


def s3_delete_object(original: Callable) -> Callable:
    def delete_object(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original(self, bucket_name, key_name, *args, **kwargs)
        store = _store
        if store is not None:
            bucket = self.buckets.get(bucket_name)
            if bucket is None or bucket.keys.get(key_name) is None:
                _journal_s3(store, ("s3", bucket_name, key_name, None, None))
        return result

    return delete_object


def sfn_start_execution(original: Callable) -> Callable:
    """StepFunctionsParserBackend.start_execution: journal the execution (running)."""
    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        execution = original(self, *args, **kwargs)
        store = _store
        if store is not None:
            fields = _execution_fields(execution)
            if fields["status"] in ("None", "RUNNING"):
                fields["status"] = "RUNNING"
            store.append(("sfn", execution.execution_arn, fields))
        return execution

    return start_execution


def journal_execution_end(worker: Any) -> None:
    """Journal how the worker's execution ended, once. DescribeExecution shows the end as soon as moto's
    ``terminated`` has set it, so this runs right after that (moto_patches' history compaction calls it before it
    compacts): a crash then leaves the end journaled unless it falls in those few instructions."""
    store = _store
    execution = worker.execution
    if store is None or getattr(execution, "_notifyx_end_journaled", False) or not moto_patches.kept(execution):
        return  # an execution the emulator does not keep has nothing to restore
    execution._notifyx_end_journaled = True
    store.append(("sfn", execution.execution_arn, _execution_fields(execution)))


def sfn_execution_ended(original: Callable) -> Callable:
    """The execution worker's ``terminated``: journal how the execution ended (if nothing inside did)."""
    def terminated(self: Any) -> None:
        original(self)
        journal_execution_end(self)

    return terminated


def ses_send(original: Callable) -> Callable:
    """SESBackend.send_email / send_raw_email / send_templated_email: journal the sent message."""
    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = original(self, *args, **kwargs)
        store = _store
        if store is not None:
            store.append(("ses", pickle.dumps(message, pickle.HIGHEST_PROTOCOL), self.sent_message_count))
        return message

    return send

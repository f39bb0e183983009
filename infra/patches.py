"""Every change the local cloud makes to moto's internals, in one place.

moto is pinned (pyproject.toml) because these replace its internals; each patch names what it replaces and
why, can be applied and reverted, and has a guard test in tests/infra/test_moto_internals.py that fails loudly
if an upgrade moved the code it relies on. ``Emulator.start`` applies them all; ``Emulator.stop`` reverts them.

The botocore hooks that answer this process's calls in process (emulator.InProcessRequests, DirectDynamoDB,
runtime's fast invoke) are not patches: they are handlers registered on botocore's documented event system.
"""
from __future__ import annotations

import copy
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: held by every DynamoDB request the emulator answers (HTTP and in-process): each is atomic, as on DynamoDB
DYNAMODB_LOCK = threading.RLock()


@dataclass
class Patch:
    """One replacement of a moto attribute: `owner.attr` becomes what `build(original)` returns."""

    name: str
    owner: Callable[[], Any]
    attr: str
    build: Callable[[Any], Any]
    why: str
    _original: Any = field(default=None, repr=False)

    @property
    def applied(self) -> bool:
        return self._original is not None

    def apply(self) -> None:
        """Install the replacement (idempotent)."""
        if self.applied:
            return
        target = self.owner()
        # the raw attribute (a staticmethod stays one when reverted); build() gets the callable
        raw = vars(target).get(self.attr, getattr(target, self.attr))
        setattr(target, self.attr, self.build(getattr(target, self.attr)))
        self._original = raw

    def revert(self) -> None:
        """Put moto's original back (idempotent)."""
        if not self.applied:
            return
        setattr(self.owner(), self.attr, self._original)
        self._original = None


# --------------------------------------------------------------------------- DynamoDB
def _dynamo_handler() -> Any:
    from moto.dynamodb.responses import DynamoHandler

    return DynamoHandler


def _atomic_call_action(original: Callable) -> Callable:
    def call_action(self: Any) -> Any:
        with DYNAMODB_LOCK:
            return original(self)

    return call_action


def _dynamodb_backend() -> Any:
    from moto.dynamodb.models import DynamoDBBackend

    return DynamoDBBackend


_journaling = threading.local()


class _CopyWithoutTables:
    """moto.dynamodb.models' ``copy``: while a transaction journals its items, a Table is not deep-copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_journaling, "active", False) and isinstance(value, Table):
            return value  # the journal below restores what the transaction touched
        return copy.deepcopy(value, memo)


def _journaled_transact_write_items(original: Callable) -> Callable:
    """TransactWriteItems without moto's backup of every table it touches (a deepcopy of the whole table on
    each call, so its cost grew with the table): the items it targets are copied instead, and put back, with
    the table's stream, if the transaction is cancelled. Same outcome: all or nothing."""

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal = _Journal(self, transact_items)
        _journaling.active = True
        try:
            return original(self, transact_items)
        except BaseException:
            journal.restore()
            raise
        finally:
            _journaling.active = False

    return transact_write_items


class _Journal:
    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        self.images: list[tuple[Any, Any, Any, Any]] = []
        self.streams: list[tuple[Any, list, int]] = []
        seen: set[int] = set()
        for entry in transact_items if isinstance(transact_items, list) else []:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            (op_type, op), = entry.items()
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            source = op.get("Item") if op_type == "Put" else op.get("Key")
            if not isinstance(source, dict) or table.hash_key_attr not in source:
                continue
            hash_key = DynamoType(source[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in source:
                    continue
                range_key = DynamoType(source[table.range_key_attr])
            self.images.append((table, hash_key, range_key, copy.deepcopy(self._current(table, hash_key, range_key))))
            if id(table) not in seen and table.stream_shard is not None:
                seen.add(id(table))
                self.streams.append((table.stream_shard, table.stream_shard.items, len(table.stream_shard.items)))

    @staticmethod
    def _current(table: Any, hash_key: Any, range_key: Any) -> Any:
        if range_key is None:
            return table.items.get(hash_key)
        return table.items.get(hash_key, {}).get(range_key)

    def restore(self) -> None:
        for table, hash_key, range_key, image in reversed(self.images):
            if range_key is None:
                if image is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = image
            else:
                ranges = table.items.get(hash_key)
                if image is None:
                    if ranges is not None:
                        ranges.pop(range_key, None)
                        if not ranges:
                            table.items.pop(hash_key, None)
                else:
                    table.items.setdefault(hash_key, {})[range_key] = image
        for shard, records, length in self.streams:
            if shard.items is records:
                del records[length:]


def _dynamodb_models() -> Any:
    import moto.dynamodb.models as models

    return models


# --------------------------------------------------------------------------- Step Functions
def _lambda_eval_utils() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    return lambda_eval_utils


def _shared_lambda_clients(original: Callable) -> Callable:
    """moto's interpreter builds a new boto3 Lambda client for every task (tens of ms of CPU each): reuse one.
    Clients are thread-safe; these carry only dummy credentials and the server's address."""
    import os

    from moto.core.models import botocore_stubber

    clients: dict[tuple[str, str, str, bool], object] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: object = None) -> object:
        # mock_aws (in-process interception) and the server port decide what the original client targets
        key = (region, service, os.environ.get("MOTO_PORT", ""), botocore_stubber.enabled)
        with lock:
            if key not in clients:
                clients[key] = original(region=region, service=service, state_credentials=state_credentials)
            return clients[key]

    return boto_client_for


def _asl_parser_class() -> Any:
    from moto.stepfunctions.parser.asl.parse import asl_parser

    return asl_parser.AmazonStateLanguageParser


def _cached_programs(original: Any) -> Any:
    """moto parses (ANTLR, ~80 ms of CPU) and preprocesses (~15 ms) a state machine's ASL for every execution:
    keep the program of each definition. Its components hold no execution state: values live in each
    execution's Environment (its heap is per execution), and Parallel/Map build their worker pools per eval."""
    from moto.stepfunctions.parser.asl.parse import asl_parser

    programs: dict[str, tuple[object, object]] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[object, object]:
        with lock:
            cached = programs.get(definition)
        if cached is None:
            listener = asl_parser.SyntaxErrorListener()
            parser = asl_parser.ASLParser(asl_parser.CommonTokenStream(
                asl_parser.ASLLexer(asl_parser.InputStream(definition))))
            parser.removeErrorListeners()
            parser.addErrorListener(listener)
            tree = parser.state_machine()
            if listener.errors:
                raise asl_parser.ASLParserException(errors=listener.errors)
            cached = (asl_parser.Preprocessor().visit(tree), tree)
            with lock:
                if len(programs) > 256:
                    programs.clear()
                programs[definition] = cached
        return cached

    return staticmethod(parse)


def _json_path_module() -> Any:
    from moto.stepfunctions.parser.asl.utils import json_path

    return json_path


def _result_path_module() -> Any:
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    return result_path


def _cached_json_path_parse(original: Callable) -> Callable:
    """jsonpath_ng builds its parser (PLY tables) on every parse(), for every path of every state: parse each
    path once. A parsed path is immutable; find() and update() change only the data they are given."""
    return functools.lru_cache(maxsize=1024)(original)


#: completed executions kept per state machine (AWS keeps a Standard execution's history 90 days; a local cloud
#: that kept every one grew ~1 MB per publish, and moto looks executions up by a linear scan)
EXECUTION_RETENTION = int(os.environ.get("NOTIFYX_EXECUTION_RETENTION", "1000"))


def _sfn_parser_backend() -> Any:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return StepFunctionsParserBackend


def _bounded_executions(original: Callable) -> Callable:
    """Forget a state machine's oldest finished executions beyond EXECUTION_RETENTION when another starts:
    describing one then answers ExecutionDoesNotExist, as AWS does after its retention period."""

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        execution = original(self, state_machine_arn, *args, **kwargs)
        executions = self.describe_state_machine(state_machine_arn).executions
        excess = len(executions) - EXECUTION_RETENTION
        if excess > 0:
            finished = [e for e in executions if getattr(e, "exec_status", None) not in (None, "RUNNING")][:excess]
            gone = {id(e) for e in finished}
            executions[:] = [e for e in executions if id(e) not in gone]
        return execution

    return start_execution


REGISTRY: list[Patch] = [
    Patch("dynamodb-atomic-requests", _dynamo_handler, "call_action", _atomic_call_action,
          "moto's UpdateItem ADD and TransactWriteItems read, change and write without isolation: 20 concurrent "
          "counter commits ended at 15-18. DynamoDB makes each request atomic; one lock does here."),
    Patch("dynamodb-transaction-journal", _dynamodb_backend, "transact_write_items", _journaled_transact_write_items,
          "TransactWriteItems deep-copied each table it touched (11% of a publish's CPU, growing with the table)"),
    Patch("dynamodb-copy-without-tables", _dynamodb_models, "copy", lambda _: _CopyWithoutTables(),
          "the journal above stands in for moto's table backup"),
    Patch("sfn-shared-lambda-clients", _lambda_eval_utils, "boto_client_for", _shared_lambda_clients,
          "a new boto3 client per Lambda task"),
    Patch("sfn-bounded-executions", _sfn_parser_backend, "start_execution", _bounded_executions,
          "every execution and its history kept forever"),
    Patch("sfn-cached-programs", _asl_parser_class, "parse", _cached_programs,
          "ANTLR parse and preprocessing of the definition per execution"),
    Patch("sfn-cached-json-paths", _json_path_module, "parse", _cached_json_path_parse,
          "jsonpath_ng rebuilds its parser for every path evaluated"),
    Patch("sfn-cached-result-paths", _result_path_module, "parse", _cached_json_path_parse,
          "the same for ResultPath"),
]


def apply_all() -> None:
    """Apply every patch (idempotent)."""
    for patch in REGISTRY:
        patch.apply()


def revert_all() -> None:
    """Revert every patch, last first (idempotent)."""
    for patch in reversed(REGISTRY):
        patch.revert()


def patch(name: str) -> Patch:
    """The registered patch called `name`."""
    return next(p for p in REGISTRY if p.name == name)

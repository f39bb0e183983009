"""The publish state machine's DynamoDB steps (Begin, RecordCommit, CompleteCommit, CompleteAbort), run on moto
from their own Parameters in step_functions/publish.asl.json, so the unit tests of the coordinator's log exercise
the expressions the state machine sends. The whole machine runs on the local cloud in tests/e2e.

Only what those steps use is evaluated: static values, ``"key.$"`` paths into the state (``$.a.b``), the context
object's ``$$.Execution.Input`` and ``$$.State.EnteredTime``, and ``States.Format('{}', path)`` /
``States.JsonToString(path)``.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from tables import physical_name, template

DEFINITION = Path(__file__).resolve().parents[2] / "step_functions" / "publish.asl.json"
RESOURCE = "arn:aws:states:::dynamodb:updateItem"
_FORMAT = re.compile(r"States\.Format\('\{\}', (\S+)\)")
_TO_STRING = re.compile(r"States\.JsonToString\((\S+)\)")


def _substitutions(lease: int) -> dict[str, str]:
    parameters = template()["Parameters"]
    return {"TransactionsTable": physical_name("TransactionsTable"), "TransactionLeaseSeconds": str(lease),
            "TransactionRetentionSeconds": str(parameters["TransactionRetentionSeconds"]["Default"])}


def state(name: str, lease: int) -> dict:
    """The named state of the definition, its ``${...}`` placeholders filled as the template's substitutions do."""
    text = DEFINITION.read_text()
    for key, value in _substitutions(lease).items():
        text = text.replace("${" + key + "}", value)
    found = json.loads(text)["States"][name]
    assert found["Resource"] == RESOURCE, found["Resource"]
    return found


def _path(path: str, data: dict, context: dict):
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    for part in filter(None, rest.split(".")):
        root = root[part]
    return root


def _value(expression: str, data: dict, context: dict):
    if match := _FORMAT.fullmatch(expression):
        return str(_path(match[1], data, context))
    if match := _TO_STRING.fullmatch(expression):
        return json.dumps(_path(match[1], data, context), separators=(",", ":"))
    return _path(expression, data, context)


def _resolve(template_value, data: dict, context: dict):
    if isinstance(template_value, dict):
        resolved = {}
        for key, value in template_value.items():
            if key.endswith(".$"):
                resolved[key[:-2]] = _value(value, data, context)
            else:
                resolved[key] = _resolve(value, data, context)
        return resolved
    if isinstance(template_value, list):
        return [_resolve(v, data, context) for v in template_value]
    return template_value


def run(name: str, transaction: dict, lease: int, data: dict | None = None) -> str:
    """Run one DynamoDB step for the execution started with ``transaction`` (``data``: the state it is handed,
    the transaction by default). ``"next"`` when it wrote; ``"caught"`` when its condition failed and the state
    catches that (Begin -> Prepare, RecordCommit -> ReadDecision); a failed condition it does not catch raises."""
    step = state(name, lease)
    entered = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    context = {"Execution": {"Input": transaction}, "State": {"EnteredTime": entered, "Name": name}}
    parameters = _resolve(step["Parameters"], transaction if data is None else data, context)
    try:
        boto3.client("dynamodb").update_item(**parameters)
    except ClientError as e:
        error = f"DynamoDB.{e.response['Error']['Code']}"
        if any(error in catcher["ErrorEquals"] for catcher in step.get("Catch", [])):
            return "caught"
        raise
    return "next"

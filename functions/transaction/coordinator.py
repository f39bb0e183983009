"""The publish state machine's coordinator tasks: begin, decide, complete (docs/internals.md)."""
from typing import Any

from transaction import decisions


def handler(event: dict, context: Any) -> dict:
    """``{"op": "begin"|"decide"|"complete", "transaction": {...}, "decision"?, "outcome"?}``."""
    op = event.get("op") if isinstance(event, dict) else None
    transaction = event.get("transaction") if isinstance(event, dict) else None
    if not isinstance(transaction, dict):
        raise ValueError("the event needs a transaction object")
    if op == "begin":
        return decisions.begin(transaction)
    if op == "decide":
        return decisions.decide(transaction, event.get("decision"))
    if op == "complete":
        return decisions.complete(transaction, event.get("outcome"))
    raise ValueError(f"unknown coordinator op: {op!r}")

"""The publish state machine's coordinator tasks: begin, decide, complete (docs/internals.md).

``{"op": "begin"|"decide"|"complete", "transaction": {...}, "decision"?, "outcome"?}``.
"""
from core.dispatch import task_handler
from transaction import decisions

handler = task_handler({"begin": decisions.begin, "decide": decisions.decide, "complete": decisions.complete})

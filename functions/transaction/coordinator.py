"""The publish state machine's coordinator task: decide, where the decision needs code (docs/internals.md).

``{"op": "decide", "transaction": {...}, "decision": "commit"|"abort"}``: an abort (its reason is the first NO
vote's), and a commit the state machine could not record because another decision won (the answer is that one).
The commit path's begin, decision and completion are the state machine's own DynamoDB steps.
"""
from core.dispatch import task_handler
from transaction import decisions

handler = task_handler({"decide": decisions.decide})

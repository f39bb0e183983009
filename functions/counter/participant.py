"""The counter's two-phase-commit participant, invoked by the publish state machine and by recovery.

``{"op": "prepare"|"commit"|"rollback", "transaction": {...}}``; raising makes the task fail and retry.
"""
from core.dispatch import task_handler
from counter import reservations

handler = task_handler({"prepare": reservations.prepare, "commit": reservations.commit,
                        "rollback": reservations.rollback})

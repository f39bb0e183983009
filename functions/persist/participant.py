"""persist as a participant of the publish two-phase commit (a Step Functions task).

``{"op": "prepare"|"commit"|"rollback", "transaction": {...}}`` -> the phase's answer. An unexpected failure
raises: the state machine turns it into a NO vote (prepare) or retries it.
"""
from core.dispatch import task_handler
from persist import publishing

handler = task_handler({"prepare": publishing.prepare, "commit": publishing.commit, "rollback": publishing.rollback})

"""Publishing: start the two-phase commit (the publish state machine) and wait for its outcome.

txid = the execution name: `pub-<uuid4 hex>`, or `idem-<sha256(user id + key)[:40]>` with an idempotency key,
so a retried key hits ExecutionAlreadyExists and gets the first execution's outcome (docs/internals.md).
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid


from core import aws, clock, config
from core import validation
from core.errors import AppError

MAX_KEY_LENGTH = 256
WAIT_SECONDS = 18.0  # with a delivery turn (up to 8 s), inside the 29 s integration timeout

def _stepfunctions():
    return aws.client("stepfunctions", retries={"max_attempts": 3}, max_pool_connections=50)




def idempotency_key(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
        raise AppError("invalid_request", f"idempotency_key must be a string of 1..{MAX_KEY_LENGTH} characters")
    return value


def txid(user_id: str, key: str | None) -> str:
    if key is None:
        return f"pub-{uuid.uuid4().hex}"
    return "idem-" + hashlib.sha256((user_id + key).encode()).hexdigest()[:40]


def transaction(user_id: str, email: str, body: dict) -> dict:
    """The state machine's input from a publish frame, validated (the contract's codes on bad input)."""
    topic = validation.topic_name(body.get("topic"))
    message = validation.message(body.get("message"))
    to = validation.recipients(body.get("to"))
    key = idempotency_key(body.get("idempotency_key"))
    started = clock.now()
    # started: epoch seconds, from which the state machine's coordinator steps count the transaction's lease and
    # retention (ASL has no clock)
    return {"txid": txid(user_id, key), "topic": topic, "publisher": {"id": user_id, "email": email},
            "message": message, "to": to, "created_at": clock.timestamp(at=started), "started": int(started)}


def run(tx: dict) -> tuple[dict, bool]:
    """Run the transaction to its end: (the execution's output, whether this call started it)."""
    arn = config.text("PUBLISH_STATE_MACHINE_ARN")
    client = _stepfunctions()
    started_at = time.monotonic()
    try:
        execution = client.start_execution(stateMachineArn=arn, name=tx["txid"], input=json.dumps(tx))["executionArn"]
    except client.exceptions.ExecutionAlreadyExists:
        # the same idempotency key again: that execution's outcome, nothing new is published
        execution = arn.replace(":stateMachine:", ":execution:", 1) + ":" + tx["txid"]
        return wait(execution), False
    return wait(execution, started_at), True


class Durations:
    """How long this sandbox's recent publish executions ran on the server (their startDate to stopDate), as a
    moving average: the first DescribeExecution waits until about then instead of polling from the start.

    A poll too early costs a throttled Step Functions call; a pause too long adds its slack to the publish's
    latency (measured locally: the 2PC ran 39 ms and polls at 9, 30 and 62 ms saw it 18 ms late). Polling from
    just before the expected end, then briefly and backing off, keeps both small."""

    WEIGHT = 0.2          # of the newest duration in the average
    EARLY = 0.85          # the first poll at this fraction of the expected duration
    FIRST_PAUSE = 0.005   # then polls 5 ms apart (or a tenth of the expected duration), growing 1.5x, at most MAX_PAUSE
    STEP = 0.1
    MAX_PAUSE = 0.25

    def __init__(self) -> None:
        self.expected: float | None = None
        self.last: float | None = None

    def observed(self, seconds: float) -> None:
        if seconds < 0:
            return
        self.last = seconds
        self.expected = seconds if self.expected is None else \
            (1 - self.WEIGHT) * self.expected + self.WEIGHT * seconds

    def next_pause(self) -> float:
        """The pause after a poll that found the execution running: a tenth of the expected duration, at least
        FIRST_PAUSE (a busy account's slower executions are polled less often, a quick one as before)."""
        return max(self.FIRST_PAUSE, self.STEP * self.expected) if self.expected is not None else self.FIRST_PAUSE

    def first_pause(self, elapsed: float) -> float:
        """Seconds to wait before the first poll, `elapsed` seconds after the execution started: before the
        average or the last duration, whichever is shorter (after a burst of slow commits, the first quick one
        brings the polls back at once instead of the average decaying over a dozen publishes)."""
        if self.expected is None:
            return 0.02
        soonest = min(self.expected, self.last if self.last is not None else self.expected)
        return min(max(0.0, self.EARLY * soonest - elapsed), WAIT_SECONDS)


durations = Durations()


def wait(execution: str, started_at: float | None = None) -> dict:
    """Poll the execution until it ends (first near its expected end); its output, or AppError unavailable.

    `started_at`: time.monotonic() when this call started it (None: it was started before, poll at once)."""
    client = _stepfunctions()
    deadline = time.monotonic() + WAIT_SECONDS
    if started_at is not None:
        time.sleep(durations.first_pause(time.monotonic() - started_at))
    pause = durations.next_pause()
    while True:
        described = client.describe_execution(executionArn=execution)
        status = described["status"]
        if status != "RUNNING" and started_at is not None and described.get("stopDate"):
            durations.observed((described["stopDate"] - described["startDate"]).total_seconds())
        if status == "SUCCEEDED":
            return json.loads(described.get("output") or "{}")
        if status != "RUNNING":
            raise AppError("unavailable", f"the publish transaction ended {status.lower()}; try again")
        if time.monotonic() > deadline:
            raise AppError("unavailable", "the publish transaction is still running; retry with the same "
                                          "idempotency_key to get its outcome")
        time.sleep(pause)
        pause = min(pause * 1.5, Durations.MAX_PAUSE)


def recipients_now(output: dict, tx: dict) -> list[str] | None:
    """The user ids persist's commit found with the topic's turn to push already there (its answer's `delivery`),
    if this flow can still be the only one to push it: before half the transaction's lease has passed since it
    started, transaction recovery, the one other pusher of a commit, cannot have taken it over (it steps in only
    past the lease). None: ask persist for the turn (delivery.fan_out)."""
    found = output.get("delivery")
    if not isinstance(found, dict) or not isinstance(found.get("user_ids"), list):
        return None
    if clock.now() >= tx["started"] + config.integer("TRANSACTION_LEASE_SECONDS") / 2:
        return None
    return found["user_ids"]


def outcome(output: dict) -> dict:
    """The publish reply from the state machine's output; AppError aborted if it rolled back."""
    if output.get("status") != "committed":
        reason = output.get("reason") or "aborted"
        raise AppError("aborted", f"the publish was rolled back ({reason})")
    notification = output["notification"]
    return {"notification_id": notification["id"], "seq": notification["seq"], "status": "committed",
            "recipients": output.get("recipients", 0)}

"""Circuit breakers shared by every sandbox: pybreaker, with its state in DynamoDB (the BreakersTable).

One item per breaker (``name``, e.g. ``mail-sender/ses-primary``): ``state``, ``opened_at``, and the failures
counted in the current window (``failures``, ``window_start``). The original's rule: ``BREAKER_FAILURE_THRESHOLD``
infrastructure failures within ``BREAKER_WINDOW_SECONDS`` open the breaker; a success does not forgive them, the
window does. After ``BREAKER_RESET_SECONDS`` one caller, in whichever sandbox, moves it to half-open and makes a
trial call: success closes it, failure opens it again.

Every state change is a conditional write on the state the writer read, so of two sandboxes racing for the
same change one wins: one trial call after the reset timeout, one "opened" log line and metric per opening.
Whoever wins a change logs it, counts it (CloudWatch metric ``Notifyx/BreakerStateChange``) and tells
``on_change`` (core.services marks the instance unhealthy or healthy in Cloud Map).

The state is read from the table once per call (``refresh``), so a breaker opened in one sandbox refuses in
every other at its next call. Times are the system clock's, as pybreaker's reset timeout is.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pybreaker
from botocore.exceptions import ClientError

from core import aws, clock, config, telemetry

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
OnChange = Callable[[str, str, str], None]


def settings() -> dict[str, float]:
    """The breaker rule from the template (Globals: BREAKER_*)."""
    return {"fail_max": config.integer("BREAKER_FAILURE_THRESHOLD"), "window": config.number("BREAKER_WINDOW_SECONDS"),
            "reset_timeout": config.number("BREAKER_RESET_SECONDS")}


def _table() -> str:
    return config.text("BREAKERS_TABLE")


def _dynamodb():
    return aws.client("dynamodb", retries={"max_attempts": 2})


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoDBStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage interface over one DynamoDB item, read once per call (``refresh``)."""

    def __init__(self, name: str, window: float, on_change: OnChange | None = None) -> None:
        super().__init__(name)
        self.window = window
        self.on_change = on_change
        self._item: dict[str, Any] = {}
        self._pending_opened_at: float | None = None
        self._successes = 0

    # ------------------------------------------------------------------ reading
    def refresh(self) -> None:
        """Read the shared state (a strongly consistent GetItem)."""
        answer = _dynamodb().get_item(TableName=_table(), Key={"name": {"S": self.name}}, ConsistentRead=True)
        self._item = _plain(answer.get("Item") or {})

    def snapshot(self) -> dict[str, Any]:
        """What was last read: state, failures in the window, opened_at (epoch seconds or None)."""
        return {"state": self.state, "failures": self.counter, "opened_at": self._item.get("opened_at")}

    @property
    def state(self) -> str:
        return self._item.get("state", CLOSED)

    @state.setter
    def state(self, state: str) -> None:
        """Change the shared state if it still is what this sandbox read; else keep the winner's."""
        seen = self.state
        if state == seen:
            return
        now = clock.now()
        names = {"#s": "state"}
        values: dict[str, Any] = {":new": {"S": state}, ":seen": {"S": seen}}
        update = "SET #s = :new"
        if state == OPEN:
            values[":opened"] = {"N": repr(self._pending_opened_at or now)}
            update += ", opened_at = :opened"
        elif state == CLOSED:
            values[":zero"], values[":now"] = {"N": "0"}, {"N": repr(now)}
            update += ", failures = :zero, window_start = :now REMOVE opened_at"
        condition = "#s = :seen" if seen != CLOSED else "attribute_not_exists(#s) OR #s = :seen"
        if seen == OPEN:  # the half-open trial: only for the opening this sandbox saw
            condition += " AND opened_at = :seen_opened"
            values[":seen_opened"] = {"N": repr(self._item.get("opened_at", 0))}
        try:
            answer = _dynamodb().update_item(
                TableName=_table(), Key={"name": {"S": self.name}}, UpdateExpression=update,
                ConditionExpression=condition, ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW")
        except ClientError as error:
            if not _conditional_failure(error):
                raise
            self.refresh()
            if state == HALF_OPEN:
                # another sandbox is making the trial call (or has settled it): this one does not
                raise pybreaker.CircuitBreakerError("another caller is making the trial call") from None
            return
        finally:
            self._pending_opened_at = None
        self._item = _plain(answer["Attributes"])
        _changed(self.name, seen, state)
        if self.on_change is not None:
            self.on_change(self.name, seen, state)

    # ------------------------------------------------------------------ failures in the window
    def increment_counter(self) -> None:
        now = clock.now()
        since = {"N": repr(now - self.window)}
        attempts = (  # one more failure in the current window, or the first failure of a new one
            ("ADD failures :one", "window_start > :since", {":one": {"N": "1"}, ":since": since}),
            ("SET failures = :one, window_start = :now",
             "attribute_not_exists(window_start) OR window_start <= :since",
             {":one": {"N": "1"}, ":now": {"N": repr(now)}, ":since": since}))
        for _ in range(3):
            for update, condition, values in attempts:
                try:
                    answer = _dynamodb().update_item(
                        TableName=_table(), Key={"name": {"S": self.name}}, UpdateExpression=update,
                        ConditionExpression=condition, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
                except ClientError as error:
                    if not _conditional_failure(error):
                        raise
                    continue
                self._item = _plain(answer["Attributes"])
                return

    def reset_counter(self) -> None:
        """A success does not forgive earlier failures (they count until their window ends); closing resets."""

    @property
    def counter(self) -> int:
        if float(self._item.get("window_start", 0)) <= clock.now() - self.window:
            return 0
        return int(self._item.get("failures", 0))

    # ------------------------------------------------------------------ half-open successes (this caller's)
    def increment_success_counter(self) -> None:
        self._successes += 1

    def reset_success_counter(self) -> None:
        self._successes = 0

    @property
    def success_counter(self) -> int:
        return self._successes

    # ------------------------------------------------------------------ opened_at
    @property
    def opened_at(self) -> datetime | None:
        value = self._item.get("opened_at")
        return datetime.fromtimestamp(float(value), UTC) if value is not None else None

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._pending_opened_at = value.timestamp()  # written with the state, in one conditional write


def _plain(item: dict[str, dict]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, typed in item.items():
        (kind, value), = typed.items()
        plain[key] = float(value) if kind == "N" else value
    return plain


def _changed(name: str, before: str, after: str) -> None:
    """Log and count one state change (made by this caller)."""
    level = logging.WARNING if after == OPEN else logging.INFO
    log.log(level, "circuit breaker %s: %s -> %s", name, before, after)
    try:
        telemetry.breaker_changed(name, after)  # EMF, at once: no CloudWatch call on the breaker's path
    except Exception as error:  # noqa: BLE001 - a metric must not change what the breaker does
        log.warning("breaker metric not sent: %s", error)


class SharedBreaker(pybreaker.CircuitBreaker):
    """A pybreaker CircuitBreaker over DynamoDBStorage."""

    @property
    def storage(self) -> DynamoDBStorage:
        return self._state_storage  # type: ignore[return-value]

    def due_for_trial(self) -> bool:
        """Open, and its reset timeout has passed: the next call may be the half-open trial."""
        wait = self.trial_in()
        return wait is not None and wait <= 0

    def trial_in(self) -> float | None:
        """Open: the seconds until its reset timeout passes (0 once it has); None when closed or half-open."""
        opened = self.storage.opened_at
        if self.storage.state != OPEN or opened is None:
            return None
        return max(0.0, opened.timestamp() + self.reset_timeout - clock.now())


_breakers: dict[str, SharedBreaker] = {}


def breaker(name: str, *, exclude: list, on_change: OnChange | None = None) -> SharedBreaker:
    """This sandbox's handle on the shared breaker `name` (``exclude``: what never counts as a failure)."""
    found = _breakers.get(name)
    if found is None:
        rule = settings()
        found = SharedBreaker(fail_max=rule["fail_max"], reset_timeout=rule["reset_timeout"], exclude=exclude,
                              state_storage=DynamoDBStorage(name, rule["window"], on_change), name=name)
        _breakers[name] = found
    else:
        found._excluded_exceptions = list(exclude)
        found.storage.on_change = on_change
    return found


def guarded(shared: SharedBreaker, remote_call: Callable[[], Any]) -> Any:
    """Make ``remote_call`` under the shared breaker, reading its state first (one GetItem).

    pybreaker runs the guarded function while holding its lock, which would serialize concurrent calls of one
    warm module (the local cloud's thread sandboxes); while the breaker is closed the call is made outside the
    lock and only its outcome is reported to pybreaker. Open or half-open, the call goes through pybreaker
    itself: it fails fast, or becomes the one trial call.
    """
    shared.storage.refresh()
    if shared.current_state != CLOSED:
        return shared.call(remote_call)
    try:
        result = remote_call()
    except Exception as error:  # noqa: BLE001 - reported to the breaker, which re-raises it
        failure = error

        def outcome():
            raise failure
    else:
        def outcome():
            return result
    return shared.call(outcome)


def all_states() -> dict[str, dict[str, Any]]:
    """Every breaker's shared state (a Scan of the small BreakersTable), for /health and the dashboard."""
    rule = settings()
    states = {}
    pages = _dynamodb().get_paginator("scan").paginate(TableName=_table(), ConsistentRead=True)
    for page in pages:
        for raw in page.get("Items", []):
            item = _plain(raw)
            recent = float(item.get("window_start", 0)) > clock.now() - rule["window"]
            opened = item.get("opened_at")
            states[item["name"]] = {
                "state": item.get("state", CLOSED), "failures": int(item.get("failures", 0)) if recent else 0,
                "opened_at": datetime.fromtimestamp(opened, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
                if opened is not None else None}
    return dict(sorted(states.items()))


def forget() -> None:
    """Drop this sandbox's breaker handles (tests)."""
    _breakers.clear()

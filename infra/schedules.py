"""Scheduled events: the local cloud's EventBridge rules for the template's ``Schedule`` events.

``rate(...)`` and ``cron(...)`` expressions as EventBridge evaluates them (UTC, 6-field cron with ``?``, ``L``,
``W`` and ``#``); each due rule invokes its function asynchronously with a "Scheduled Event" (or the rule's
constant ``Input``), and a function error is retried twice, after 1 and 2 minutes, as Lambda does for
asynchronous invokes.
"""
from __future__ import annotations

import calendar
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import Any

from infra import account

logger = logging.getLogger("notifyx.schedules")

#: Runs a function by name with an event and returns its result; raises on a function error, timeout or throttle.
Invoke = Callable[[str, dict], Any]
#: Delivers a scheduled event to a target other than a function: (rule name, target, event); raises on a failure.
Send = Callable[[str, dict, dict], None]

REGION = account.REGION
ACCOUNT_ID = account.ACCOUNT_ID
#: Lambda's retries of a failed asynchronous invoke, in seconds after the previous attempt.
ASYNC_RETRY_DELAYS = (60.0, 120.0)


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge would refuse (ValidationException)."""


@dataclass(frozen=True)
class ScheduleSpec:
    """One scheduled rule's target: a function (with the rule's optional constant input), or another EventBridge
    target (`target`: its Arn, Input, InputPath, InputTransformer, SqsParameters), which the Scheduler's `send`
    delivers. `rule`: the rule's name when `name` is one of its several targets."""

    name: str
    expression: str
    function: str | None = None
    input: dict | None = None
    enabled: bool = True
    rule: str | None = None
    target: dict | None = None
    #: EventBridge Scheduler's: the expression's time zone (at() allowed), StartDate and EndDate, and whether the
    #: schedule is deleted once it has nothing more to fire (ActionAfterCompletion DELETE)
    timezone: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    scheduler: bool = False
    delete_after: bool = False


# ---------------------------------------------------------------------------------------------- rate()
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every period, counted from when the rule starts."""

    period: timedelta

    def next_after(self, moment: datetime, anchor: datetime) -> datetime:
        """The first firing strictly after `moment` for a rule started at `anchor`."""
        periods = int((moment - anchor) / self.period) + 1
        return anchor + periods * self.period


def _parse_rate(expression: str, scheduler: bool = False) -> RateSchedule:
    match = _RATE.match(expression.strip())
    if not match:
        raise ScheduleExpressionError(f"invalid rate expression {expression!r}: expected rate(N minute|minutes|"
                                      "hour|hours|day|days)")
    value, unit = int(match.group(1)), match.group(2)
    if value <= 0:
        raise ScheduleExpressionError(f"invalid rate expression {expression!r}: the value must be positive")
    # EventBridge rules insist on the singular for 1 and the plural otherwise (its rate expressions reference);
    # EventBridge Scheduler documents the units without that limitation, and aws-samples' serverless-patterns
    # deploy schedules of rate(5 minute)
    if not scheduler and (value == 1) != (not unit.endswith("s")):
        raise ScheduleExpressionError(f"invalid rate expression {expression!r}: use "
                                      f"'{unit.rstrip('s')}' for 1 and '{unit.rstrip('s')}s' for more")
    return RateSchedule(timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")]))


# ---------------------------------------------------------------------------------------------- cron()
_MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
_YEARS = (1970, 2199)


def _aws_weekday(day: date) -> int:
    """EventBridge numbers days of the week 1 (Sunday) .. 7 (Saturday)."""
    return (day.weekday() + 1) % 7 + 1


def _parse_values(field: str, what: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """A cron field of numbers, ranges, steps and names (``*``, ``5``, ``1-5``, ``0/15``, ``MON-FRI``, ``a,b``)."""
    def number(token: str) -> int:
        token = token.upper()
        value = names[token] if names and token in names else int(token) if token.isdigit() else None
        if value is None or not low <= value <= high:
            raise ScheduleExpressionError(f"invalid {what} {token!r}: expected {low}-{high}")
        return value

    values: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        if step_text and not step_text.isdigit() or step_text == "0":
            raise ScheduleExpressionError(f"invalid step in {what} {item!r}")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = number(first), number(last)
            if start > end:
                raise ScheduleExpressionError(f"invalid range in {what} {item!r}")
        else:
            start = number(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class CronSchedule:
    """``cron(Minutes Hours Day-of-month Month Day-of-week Year)``, evaluated in UTC (an EventBridge rule) or in
    the schedule's time zone (EventBridge Scheduler's ScheduleExpressionTimezone)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: str | None     # the raw field, None when "?"
    day_of_week: str | None
    zone: tzinfo = UTC

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first matching minute strictly after `moment`, or None if there is none before 2200."""
        moment = moment.astimezone(self.zone).replace(second=0, microsecond=0)
        day = moment.date()
        while day.year <= _YEARS[1]:
            if day.year not in self.years:
                day = date(day.year + 1, 1, 1)
                continue
            if day.month not in self.months:
                day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
                continue
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
                        if candidate > moment:
                            return candidate
            day += timedelta(days=1)
        return None

    def _day_matches(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.day_of_month is not None:
            return any(_day_of_month_item(item, day, last) for item in self.day_of_month.split(","))
        assert self.day_of_week is not None
        return any(_day_of_week_item(item, day, last) for item in self.day_of_week.split(","))


def _nearest_weekday(year: int, month: int, target: int, last: int) -> int:
    """The weekday (Mon-Fri) nearest to day `target` without leaving the month (cron's ``nW``)."""
    target = min(target, last)
    weekday = date(year, month, target).weekday()  # Mon=0 .. Sun=6
    if weekday == 5:   # Saturday -> Friday, or Monday when the 1st is a Saturday
        return target - 1 if target > 1 else target + 2
    if weekday == 6:   # Sunday -> Monday, or Friday when the month ends on a Sunday
        return target + 1 if target < last else target - 2
    return target


def _day_of_month_item(item: str, day: date, last: int) -> bool:
    item = item.upper()
    if item == "L":
        return day.day == last
    if item == "LW":
        return day.day == _nearest_weekday(day.year, day.month, last, last)
    if item.endswith("W"):
        return day.day == _nearest_weekday(day.year, day.month, int(item[:-1]), last)
    return day.day in _parse_values(item, "day-of-month", 1, 31)


def _day_of_week_item(item: str, day: date, last: int) -> bool:
    item = item.upper()
    weekday = _aws_weekday(day)
    if item == "L":
        return weekday == 7
    if item.endswith("L"):           # "6L": the last Friday of the month
        return weekday == _parse_single_day(item[:-1]) and day.day + 7 > last
    if "#" in item:                  # "2#1": the first Monday of the month
        which, _, nth = item.partition("#")
        return weekday == _parse_single_day(which) and (day.day - 1) // 7 + 1 == int(nth)
    return weekday in _parse_values(item, "day-of-week", 1, 7, _DAYS)


def _parse_single_day(token: str) -> int:
    values = _parse_values(token, "day-of-week", 1, 7, _DAYS)
    if len(values) != 1:
        raise ScheduleExpressionError(f"invalid day-of-week {token!r}")
    return next(iter(values))


def _check_day_of_month(item: str) -> None:
    item = item.upper()
    if item in ("L", "LW"):
        return
    if item.endswith("W"):
        if not item[:-1].isdigit() or not 1 <= int(item[:-1]) <= 31:
            raise ScheduleExpressionError(f"invalid day-of-month {item!r}")
        return
    _parse_values(item, "day-of-month", 1, 31)


def _check_day_of_week(item: str) -> None:
    item = item.upper()
    if item == "L":
        return
    if item.endswith("L"):
        _parse_single_day(item[:-1])
        return
    if "#" in item:
        which, _, nth = item.partition("#")
        _parse_single_day(which)
        if nth not in ("1", "2", "3", "4", "5"):
            raise ScheduleExpressionError(f"invalid day-of-week {item!r}: the week must be 1-5")
        return
    _parse_values(item, "day-of-week", 1, 7, _DAYS)


def _parse_cron(expression: str) -> CronSchedule:
    match = re.match(r"^cron\((.*)\)$", expression.strip())
    fields = match.group(1).split() if match else []
    if len(fields) != 6:
        raise ScheduleExpressionError(f"invalid cron expression {expression!r}: expected 6 fields "
                                      "(Minutes Hours Day-of-month Month Day-of-week Year)")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(f"invalid cron expression {expression!r}: exactly one of day-of-month "
                                      "and day-of-week must be '?'")
    schedule = CronSchedule(
        minutes=frozenset(_parse_values(minute, "minute", 0, 59)),
        hours=frozenset(_parse_values(hour, "hour", 0, 23)),
        months=frozenset(_parse_values(month, "month", 1, 12, _MONTHS)),
        years=frozenset(_parse_values(year, "year", *_YEARS)),
        day_of_month=None if dom == "?" else dom,
        day_of_week=None if dow == "?" else dow)
    # validate the day fields now rather than at the first evaluation
    for item in dom.split(",") if dom != "?" else []:
        _check_day_of_month(item)
    for item in dow.split(",") if dow != "?" else []:
        _check_day_of_week(item)
    return schedule


@dataclass(frozen=True)
class AtSchedule:
    """EventBridge Scheduler's one-time ``at(yyyy-mm-ddThh:mm:ss)``, in the schedule's time zone."""

    when: datetime

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        return self.when if self.when > moment else None


_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def zone_of(name: str | None) -> tzinfo:
    """An IANA time zone (ScheduleExpressionTimezone); UTC when none is named."""
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(f"invalid time zone {name!r}") from None


def parse_schedule(expression: str, zone: str | None = None,
                   one_time: bool = False) -> RateSchedule | CronSchedule | AtSchedule:
    """Parse an EventBridge schedule expression; raises ScheduleExpressionError for what AWS would refuse.
    `zone`: a Scheduler schedule's time zone (cron and at); `one_time`: at() is allowed (Scheduler only)."""
    text = expression.strip()
    if text.startswith("rate("):
        return _parse_rate(text, scheduler=one_time)
    if text.startswith("cron("):
        try:
            cron = _parse_cron(text)
        except (ValueError, KeyError) as exc:
            if isinstance(exc, ScheduleExpressionError):
                raise
            raise ScheduleExpressionError(f"invalid cron expression {expression!r}: {exc}") from exc
        return cron if zone is None else CronSchedule(**{**vars(cron), "zone": zone_of(zone)})
    match = _AT.match(text) if one_time else None
    if match:
        try:
            return AtSchedule(datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=zone_of(zone)))
        except ValueError as exc:
            raise ScheduleExpressionError(f"invalid at expression {expression!r}: {exc}") from None
    expected = "rate(...), cron(...) or at(...)" if one_time else "rate(...) or cron(...)"
    raise ScheduleExpressionError(f"invalid schedule expression {expression!r}: expected {expected}")


# ---------------------------------------------------------------------------------------------- the scheduler
def _parse(spec: ScheduleSpec) -> RateSchedule | CronSchedule | AtSchedule:
    return parse_schedule(spec.expression, spec.timezone, one_time=spec.scheduler)


class UnknownSchedule(LookupError):
    """No schedule has that name."""


class Scheduler:
    """Fires the rules' functions when they are due; ``fire(name)`` runs one now.

    `time_scale` > 1 runs the rules' clock faster than the wall clock (tests: 600 makes rate(1 minute) 0.1 s).
    """

    def __init__(self, specs: list[ScheduleSpec], invoke: Invoke, *, send: Send | None = None, region: str = REGION,
                 account: str = ACCOUNT_ID, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.specs = {spec.name: spec for spec in specs}
        self._schedules = {spec.name: _parse(spec) for spec in specs}
        self._invoke = invoke
        self._send = send
        self.region = region
        self.account = account
        self.time_scale = time_scale
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()  # a schedule was added or removed, or stop()
        self._anchors: dict[str, datetime] = {}
        #: called with a spec whose schedule has nothing more to fire and is deleted after completion
        self.on_complete: Callable[[ScheduleSpec], None] | None = None
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()
        self._origin: tuple[datetime, float] = (datetime.now(UTC), time.monotonic())
        self._next: dict[str, datetime | None] = {}
        self._stats = {name: {"fires": 0, "errors": 0} for name in self.specs}

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        """Per rule: scheduled invocations started and attempts that raised."""
        with self._lock:
            return {name: dict(counts) for name, counts in self._stats.items()}

    def now(self) -> datetime:
        """The rules' clock: the wall clock, or a faster one with time_scale."""
        wall, mono = self._origin
        return wall + timedelta(seconds=(time.monotonic() - mono) * self.time_scale)

    def next_fire(self, name: str) -> datetime | None:
        """When the rule fires next (None before start() or when it never will)."""
        self._spec(name)
        return self._next.get(name)

    def rule_arn(self, name: str) -> str:
        """The EventBridge rule's ARN, as the event's ``resources`` carry it."""
        return self._rule_arn(self._spec(name))

    def _rule_arn(self, spec: ScheduleSpec) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:rule/{spec.rule or spec.name}"

    def event(self, name: str, at: datetime | None = None) -> dict:
        """The event the rule delivers: its constant input, or an EventBridge "Scheduled Event" (which a target
        other than a function gets whole: `send` applies its Input, InputPath or InputTransformer)."""
        return self._event_of(self._spec(name), at)

    def _event_of(self, spec: ScheduleSpec, at: datetime | None = None) -> dict:
        if spec.input is not None and spec.target is None:
            return spec.input
        moment = (at or self.now()).astimezone(UTC)
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": self.account, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": self.region,
                "resources": [self._rule_arn(spec)], "detail": {}}

    def fire(self, name: str) -> Any:
        """Invoke the rule's function now, synchronously, and return its result (raises on its error); a target
        other than a function gets the event now (None)."""
        spec = self._spec(name)
        if spec.target is not None:
            return self._deliver_target(spec, self.event(name))
        return self._invoke(spec.function, self.event(name))

    def _deliver_target(self, spec: ScheduleSpec, event: dict) -> None:
        if self._send is None:
            raise RuntimeError(f"schedule {spec.name}: no sender for target {spec.target.get('Arn')}")
        self._send(spec.rule or spec.name, spec.target, event)

    def start(self) -> Scheduler:
        """Start the clock: rate rules first fire one period from now, cron rules at their next match."""
        if self._thread is not None:
            return self
        self._stopping.clear()
        self._origin = (datetime.now(UTC), time.monotonic())
        anchor = self.now()
        with self._lock:
            for name in self._schedules:
                self._anchors[name] = anchor
                self._next[name] = self._following(name, anchor) if self.specs[name].enabled else None
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def add(self, spec: ScheduleSpec) -> None:
        """Add or replace a schedule while the clock runs (EventBridge Scheduler's CreateSchedule/UpdateSchedule):
        a rate schedule counts its periods from now."""
        schedule = _parse(spec)
        with self._lock:
            self.specs[spec.name], self._schedules[spec.name] = spec, schedule
            self._stats.setdefault(spec.name, {"fires": 0, "errors": 0})
            if self._thread is not None:
                self._anchors[spec.name] = self.now()
                self._next[spec.name] = self._following(spec.name, self.now()) if spec.enabled else None
        self._wake.set()

    def remove(self, name: str) -> None:
        """Take a schedule out (DeleteSchedule): it fires no more; a delivery already started goes on."""
        with self._lock:
            for table in (self.specs, self._schedules, self._next, self._anchors):
                table.pop(name, None)
        self._wake.set()

    def _following(self, name: str, after: datetime) -> datetime | None:
        """The schedule's next firing after `after`, within its StartDate and EndDate."""
        spec, schedule, anchor = self.specs[name], self._schedules[name], self._anchors.get(name, after)
        due = schedule.next_after(after, anchor)
        if due is not None and spec.start is not None and due < spec.start:
            due = schedule.next_after(spec.start - timedelta(microseconds=1), anchor)
        if due is not None and spec.end is not None and due > spec.end:
            due = None
        return due

    def catch_up(self) -> None:
        """Fire every enabled rule once now, asynchronously (the local cloud's first tick after a restart)."""
        for name, spec in list(self.specs.items()):
            if spec.enabled and not isinstance(self._schedules.get(name), AtSchedule):  # a one-time one is not
                self._dispatch(spec, self.now())

    def stop(self, timeout: float | None = None) -> None:
        """Stop firing and wait for running invocations (pending retries are dropped)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    def _spec(self, name: str) -> ScheduleSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownSchedule(f"no schedule named {name!r}; known: {sorted(self.specs)}") from None

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                pending = [(due, name) for name, due in self._next.items() if due is not None]
            if not pending:
                self._wake.wait()
                self._wake.clear()
                continue
            due, name = min(pending)
            delay = (due - self.now()).total_seconds() / self.time_scale
            if delay > 0:
                # wake at least every minute of wall time, so a suspended laptop does not skew the clock for long
                self._wake.wait(min(delay, 60.0))
                self._wake.clear()
                continue
            with self._lock:
                if self._next.get(name) != due:  # removed or replaced meanwhile
                    continue
                # EventBridge does not replay missed firings: fire once and move to the next time in the future
                self._next[name] = self._following(name, max(due, self.now()))
                finished, spec = self._next[name] is None, self.specs[name]
            self._dispatch(spec, due, finished)

    def _dispatch(self, spec: ScheduleSpec, due: datetime, finished: bool = False) -> None:
        name = spec.name
        worker = threading.Thread(target=self._deliver, args=(name, self._event_of(spec, due), spec),
                                  name=f"schedule-{name}", daemon=True)
        if finished and spec.delete_after:
            # ActionAfterCompletion DELETE: the schedule goes once it has nothing more to fire
            self.remove(name)
            if self.on_complete is not None:
                self.on_complete(spec)
        with self._lock:
            self._stats.setdefault(name, {"fires": 0, "errors": 0})["fires"] += 1
            self._workers.add(worker)
        worker.start()

    def _deliver(self, name: str, event: dict, spec: ScheduleSpec) -> None:
        """One asynchronous invoke with Lambda's retries of a failed attempt; one delivery to another target (a
        failed one is logged: EventBridge's own retries of a target are not made locally)."""
        try:
            if spec.target is not None:
                try:
                    self._deliver_target(spec, event)
                except Exception as exc:  # noqa: BLE001 - a scheduled delivery's failure only reaches the logs
                    with self._lock:
                        self._stats.setdefault(name, {"fires": 0, "errors": 0})["errors"] += 1
                    logger.warning("schedule %s: delivery to %s failed: %s", name, spec.target.get("Arn"), exc)
                return
            for attempt, delay in enumerate((0.0, *ASYNC_RETRY_DELAYS)):
                if delay and self._stopping.wait(delay / self.time_scale):
                    return
                try:
                    self._invoke(spec.function, event)
                    return
                except Exception as exc:  # noqa: BLE001 - an asynchronous invoke's error only reaches the logs
                    with self._lock:
                        self._stats.setdefault(name, {"fires": 0, "errors": 0})["errors"] += 1
                    logger.warning("schedule %s: %s failed (attempt %d): %s", name, spec.function, attempt + 1, exc)
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

"""Scheduled rules: EventBridge's rate/cron evaluation, event shape, and a scheduler that fires real handlers."""
from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.schedules import (
    CronSchedule,
    RateSchedule,
    ScheduleExpressionError,
    Scheduler,
    ScheduleSpec,
    UnknownSchedule,
    parse_schedule,
)

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "h6"))
import h6_scheduled  # noqa: E402

pytestmark = pytest.mark.timeout(30)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_handler():
    h6_scheduled.events.clear()
    yield
    h6_scheduled.events.clear()


def invoke(function_name: str, event: dict):
    """Run the fixture handler with the event JSON round-tripped, as Lambda does."""
    assert function_name == "recovery"
    return h6_scheduled.handler(json.loads(json.dumps(event)), None)


# ---------------------------------------------------------------------------------------------- rate
@pytest.mark.parametrize("expression, seconds", [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(12 hours)", 43200),
    ("rate(1 day)", 86400), ("rate(7 days)", 604800),
])
def test_rate_periods(expression, seconds):
    schedule = parse_schedule(expression)
    assert isinstance(schedule, RateSchedule) and schedule.period == timedelta(seconds=seconds)


def test_rate_fires_one_period_after_start_then_every_period():
    schedule = parse_schedule("rate(5 minutes)")
    start = at("2026-11-25T14:00:10")
    assert schedule.next_after(start, start) == at("2026-11-25T14:05:10")
    assert schedule.next_after(at("2026-11-25T14:07:00"), start) == at("2026-11-25T14:10:10")


@pytest.mark.parametrize("expression", [
    "rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)", "rate(5 seconds)", "rate(5)", "rate(-1 hours)",
    "every(5 minutes)", "",
])
def test_invalid_rates_are_refused(expression):
    with pytest.raises(ScheduleExpressionError):
        parse_schedule(expression)


# ---------------------------------------------------------------------------------------------- cron
@pytest.mark.parametrize("expression, after, expected", [
    ("cron(0 12 * * ? *)", "2026-11-25T14:55:00", "2026-11-26T12:00:00"),      # noon every day
    ("cron(0 12 * * ? *)", "2026-11-25T11:59:30", "2026-11-25T12:00:00"),
    ("cron(0/15 * * * ? *)", "2026-11-25T14:55:00", "2026-11-25T15:00:00"),    # every 15 minutes
    ("cron(0/15 * * * ? *)", "2026-11-25T15:00:00", "2026-11-25T15:15:00"),    # strictly after
    ("cron(5,35 14 * * ? *)", "2026-11-25T14:05:00", "2026-11-25T14:35:00"),
    ("cron(0 18 ? * MON-FRI *)", "2026-11-27T18:00:00", "2026-11-30T18:00:00"),  # Friday -> Monday
    ("cron(0 8 1 * ? *)", "2026-11-25T00:00:00", "2026-12-01T08:00:00"),        # first of the month
    ("cron(0 0 L * ? *)", "2026-02-01T00:00:00", "2026-02-28T00:00:00"),        # last day of the month
    ("cron(0 0 L * ? *)", "2028-02-01T00:00:00", "2028-02-29T00:00:00"),        # leap year
    ("cron(0 9 ? * 2#1 *)", "2026-11-25T00:00:00", "2026-12-07T09:00:00"),      # first Monday
    ("cron(15 10 ? * 6L 2026)", "2026-11-01T00:00:00", "2026-11-27T10:15:00"),  # last Friday
    ("cron(0 9 15W * ? *)", "2026-11-01T00:00:00", "2026-11-16T09:00:00"),      # 15 Nov 2026 is a Sunday
    ("cron(0 9 1W * ? *)", "2026-07-31T00:00:00", "2026-08-03T09:00:00"),       # 1 Aug 2026 is a Saturday
    ("cron(0 9 LW * ? *)", "2026-05-01T00:00:00", "2026-05-29T09:00:00"),       # 31 May 2026 is a Sunday
    ("cron(0 0 1 JAN ? *)", "2026-11-25T00:00:00", "2027-01-01T00:00:00"),
    ("cron(0 10 ? * SUN,7 *)", "2026-11-25T00:00:00", "2026-11-28T10:00:00"),   # 7 = Saturday
    ("cron(30 2 29 2 ? 2027-2030)", "2026-01-01T00:00:00", "2028-02-29T02:30:00"),
])
def test_cron_next_match(expression, after, expected):
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    assert schedule.next_after(at(after)) == at(expected)


def test_cron_that_never_matches_has_no_next():
    assert parse_schedule("cron(0 0 30 2 ? *)").next_after(at("2026-01-01T00:00:00")) is None
    assert parse_schedule("cron(0 0 1 1 ? 2020)").next_after(at("2026-01-01T00:00:00")) is None


@pytest.mark.parametrize("expression", [
    "cron(0 12 * * *)",               # five fields
    "cron(0 12 * * * *)",             # neither day field is '?'
    "cron(0 12 ? * ? *)",             # both are
    "cron(60 12 * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 * 13 ? *)",
    "cron(0 0 ? * 8 *)", "cron(0 0 ? * MON#6 *)", "cron(0 0 40W * ? *)", "cron(0 0 * * ? 1969)",
    "cron(0 0 5-1 * ? *)", "cron(*/0 * * * ? *)", "cron(0 0 ? * FOO *)",
])
def test_invalid_crons_are_refused(expression):
    with pytest.raises(ScheduleExpressionError):
        parse_schedule(expression)


# ---------------------------------------------------------------------------------------------- events and firing
def test_fire_invokes_now_with_a_scheduled_event():
    scheduler = Scheduler([ScheduleSpec("RecoveryEveryMinute", "rate(1 minute)", "recovery")], invoke)
    assert scheduler.fire("RecoveryEveryMinute") == {"seen": 1}

    event = h6_scheduled.events[0]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"}
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["version"] == "0" and event["detail"] == {} and event["region"] == "us-east-1"
    assert event["account"] == "123456789012"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/RecoveryEveryMinute"]
    sent = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 5


def test_a_rule_with_input_delivers_the_input_itself():
    scheduler = Scheduler([ScheduleSpec("Sweep", "rate(1 hour)", "recovery", input={"op": "sweep"})], invoke)
    scheduler.fire("Sweep")
    assert h6_scheduled.events == [{"op": "sweep"}]


def test_fire_of_an_unknown_rule_says_which_exist():
    scheduler = Scheduler([ScheduleSpec("Sweep", "rate(1 hour)", "recovery")], invoke)
    with pytest.raises(UnknownSchedule, match="Sweep"):
        scheduler.fire("Nope")


def test_a_bad_expression_is_refused_when_the_scheduler_is_built():
    with pytest.raises(ScheduleExpressionError, match="rate"):
        Scheduler([ScheduleSpec("Bad", "rate(1 minutes)", "recovery")], invoke)


def test_scheduler_fires_rate_rules_on_time():
    # time_scale 600: rate(1 minute) is due every 0.1 s of wall time
    scheduler = Scheduler([ScheduleSpec("Recovery", "rate(1 minute)", "recovery")], invoke, time_scale=600)
    scheduler.start()
    try:
        time.sleep(0.05)
        assert h6_scheduled.events == []                 # nothing before the first period has passed
        time.sleep(0.5)
    finally:
        scheduler.stop()
    fired = len(h6_scheduled.events)
    assert 3 <= fired <= 6
    times = [datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ") for e in h6_scheduled.events]
    gaps = [int((b - a).total_seconds()) for a, b in zip(times, times[1:], strict=False)]
    # whole rule-minutes apart (a firing delayed past the next one is not replayed, as on EventBridge)
    assert gaps and all(gap > 0 and gap % 60 == 0 for gap in gaps), gaps
    assert scheduler.stats == {"Recovery": {"fires": fired, "errors": 0}}
    time.sleep(0.3)
    assert len(h6_scheduled.events) == fired             # stopped means stopped


def test_disabled_rules_do_not_fire_but_can_be_fired_by_hand():
    scheduler = Scheduler([ScheduleSpec("Off", "rate(1 minute)", "recovery", enabled=False)], invoke,
                          time_scale=600).start()
    try:
        time.sleep(0.3)
        assert h6_scheduled.events == [] and scheduler.next_fire("Off") is None
        scheduler.fire("Off")
        assert len(h6_scheduled.events) == 1
    finally:
        scheduler.stop()


def test_a_failed_scheduled_invoke_is_retried_twice():
    attempts = []

    def failing(function_name: str, event: dict):
        attempts.append(event["id"])
        raise RuntimeError("database unavailable")

    # rate(1 day) at 86400x: due after 1 s; the async retries (60 s, 120 s) take 0.7 ms and 1.4 ms
    scheduler = Scheduler([ScheduleSpec("Daily", "rate(1 day)", "recovery")], failing, time_scale=86400)
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert attempts[:3] == [attempts[0]] * 3              # the same event, three attempts
    assert scheduler.stats["Daily"]["errors"] >= 3


def test_stop_is_prompt():
    scheduler = Scheduler([ScheduleSpec("Hourly", "rate(1 hour)", "recovery")], invoke).start()
    started = time.monotonic()
    scheduler.stop()
    assert time.monotonic() - started < 0.5
    assert scheduler.next_fire("Hourly") is not None


# ---------------------------------------------------------------------------------------------- EventBridge Scheduler
def test_a_scheduler_cron_keeps_its_time_zone_across_daylight_saving():
    from zoneinfo import ZoneInfo

    paris = parse_schedule("cron(0 9 * * ? *)", "Europe/Paris")
    assert paris.next_after(at("2026-01-15T07:00:00")) == at("2026-01-15T08:00:00")   # CET, UTC+1
    assert paris.next_after(at("2026-07-15T06:00:00")) == at("2026-07-15T07:00:00")   # CEST, UTC+2
    assert paris.next_after(at("2026-07-15T06:00:00")).astimezone(ZoneInfo("Europe/Paris")).hour == 9
    assert parse_schedule("cron(0 9 * * ? *)").next_after(at("2026-07-15T06:00:00")) == at("2026-07-15T09:00:00")
    with pytest.raises(ScheduleExpressionError, match="time zone"):
        parse_schedule("cron(0 9 * * ? *)", "Mars/Olympus")


def test_at_is_a_scheduler_expression_in_its_time_zone_and_fires_once():
    once = parse_schedule("at(2026-03-01T10:30:00)", "America/New_York", one_time=True)
    assert once.next_after(at("2026-03-01T00:00:00")) == at("2026-03-01T15:30:00")       # EST, UTC-5
    assert once.next_after(at("2026-03-01T15:30:00")) is None
    with pytest.raises(ScheduleExpressionError, match="rate"):
        parse_schedule("at(2026-03-01T10:30:00)")  # not an EventBridge rule's expression
    with pytest.raises(ScheduleExpressionError):
        parse_schedule("at(2026-02-30T10:30:00)", one_time=True)


def test_start_and_end_dates_bound_the_firings():
    now = datetime.now(UTC)
    spec = ScheduleSpec("Bounded", "rate(1 minute)", "recovery", start=now + timedelta(minutes=30),
                        end=now + timedelta(minutes=90))
    over = ScheduleSpec("Over", "rate(1 minute)", "recovery", end=now - timedelta(minutes=1))
    scheduler = Scheduler([spec, over], invoke).start()
    try:
        first = scheduler.next_fire("Bounded")
        assert spec.start <= first < spec.start + timedelta(minutes=1)
        assert scheduler.next_fire("Over") is None
    finally:
        scheduler.stop()


def test_schedules_added_and_removed_while_the_clock_runs():
    completed = []
    scheduler = Scheduler([], invoke, time_scale=600).start()
    scheduler.on_complete = completed.append
    try:
        scheduler.add(ScheduleSpec("Added", "rate(1 minute)", "recovery"))
        time.sleep(0.35)                                   # rate(1 minute) at 600x: every 0.1 s
        fired = len(h6_scheduled.events)
        assert fired >= 2
        scheduler.remove("Added")
        time.sleep(0.3)
        assert len(h6_scheduled.events) == fired and "Added" not in scheduler.specs
        when = (scheduler.now() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")  # 0.05 s of wall time
        once = ScheduleSpec("Once", f"at({when})", "recovery", scheduler=True, delete_after=True)
        scheduler.add(once)
        deadline = time.monotonic() + 5
        while not completed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert completed == [once] and "Once" not in scheduler.specs
        assert wait_until(lambda: len(h6_scheduled.events) == fired + 1)
    finally:
        scheduler.stop()


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False

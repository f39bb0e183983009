"""Helpers of the tests that race threads against the local cloud and wait for what it does in the background."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def race(threads: list[threading.Thread], meanwhile: Callable[[], None] | None = None, switch_seconds: float = 1e-5,
         join_seconds: float = 30.0) -> None:
    """Run `threads` at once with the interpreter switching threads as often as it can (sys.setswitchinterval), so
    that a race needing a switch at one exact bytecode happens within seconds; `meanwhile()` runs while they do
    (to let them run for a while and tell them to stop), and each is joined after it."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(switch_seconds)
    try:
        for thread in threads:
            thread.start()
        if meanwhile is not None:
            meanwhile()
        for thread in threads:
            thread.join(join_seconds)
    finally:
        sys.setswitchinterval(interval)


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """The first truthy answer of condition(), asked until `timeout` seconds have passed (then AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out")


def drain(sqs: Any, queue_url: str, count: int, seconds: float = 10.0) -> list[str]:
    """The bodies of the messages a queue gets within `seconds` (each received and deleted), once `count` came."""
    bodies: list[str] = []
    deadline = time.monotonic() + seconds
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            bodies.append(message["Body"])
    return bodies

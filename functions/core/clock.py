"""The time every function reads. Tests set it here (``clock.use``) instead of patching each module's ``now``."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch."""
    return _source()


def timestamp(timespec: str = "milliseconds", at: float | None = None) -> str:
    """The time (now, or ``at`` in epoch seconds) as the contract writes it: ISO 8601 in UTC with a Z, e.g.
    "2026-11-25T14:00:00.000Z"."""
    return datetime.fromtimestamp(now() if at is None else at, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def use(source: Callable[[], float]) -> None:
    """Read the time from ``source`` from now on (tests)."""
    global _source
    _source = source


def reset() -> None:
    """Back to the system clock."""
    use(time.time)

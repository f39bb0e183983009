"""The local cloud process's garbage-collection policy.

The cloud process holds a database that only grows while it serves: moto's tables and items, executions, log
events. CPython's collector walks every tracked object on a full pass, so with the default policy a pass over
the data of a few hundred publishes stopped every thread for 250-450 ms (measured with gc.callbacks, 10 in
flight), several times a minute; `gc.freeze()` after start-up alone makes it worse, since frozen objects do not
count towards the next full pass's trigger.

The policy: once a second, whatever has survived until then is frozen (moved out of the collector's
generations; reference counting still frees it when it is dropped), so automatic passes only ever walk objects
younger than a second. Cycles that become garbage after they were frozen are reclaimed when the cloud is idle:
after IDLE_SECONDS without a Lambda invocation, everything is unfrozen and collected once, a pause nobody waits on.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("notifyx.collector")


class GarbageKeeper:
    """Freezes survivors every FREEZE_SECONDS; a full collection once the cloud has been idle IDLE_SECONDS."""

    FREEZE_SECONDS = 1.0
    IDLE_SECONDS = 2.0

    def __init__(self, activity: Callable[[], int]) -> None:
        self._activity = activity  # a number that changes while the cloud works (invocations so far)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gc-keeper", daemon=True)
        self.reclaimed = 0  # idle-time full collections so far

    def start(self) -> GarbageKeeper:
        gc.freeze()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _run(self) -> None:
        last = self._activity()
        idle_since = time.monotonic()
        reclaimed = False
        while not self._stopped.wait(self.FREEZE_SECONDS):
            current = self._activity()
            now = time.monotonic()
            if current != last:
                last, idle_since, reclaimed = current, now, False
            elif not reclaimed and now - idle_since >= self.IDLE_SECONDS:
                self.reclaim()
                reclaimed = True
            gc.freeze()

    def reclaim(self) -> int:
        """One full collection over everything, frozen included; the number of unreachable objects found."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.reclaimed += 1
        logger.debug("idle-time collection: %d unreachable objects in %.0f ms", found,
                     (time.perf_counter() - started) * 1000)
        return found

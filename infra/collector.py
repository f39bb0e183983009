"""The local cloud process's garbage-collection policy.

The cloud process holds a database that only grows while it serves: moto's tables and items, executions, log
events. CPython's collector walks every tracked object on a full pass, so with the default policy a pass over
the data of a few hundred publishes stopped every thread for 250-450 ms (measured with gc.callbacks, 10 in
flight), several times a minute; `gc.freeze()` after start-up alone makes it worse, since frozen objects do not
count towards the next full pass's trigger.

The policy: once a second whatever is alive is frozen (moved out of the collector's generations; reference
counting still frees it when it is dropped), so automatic passes only ever walk objects younger than a second.
Cycles that become garbage after they were frozen (a pruned execution, a closed socket's objects) are reclaimed
by one full collection over everything, which takes seconds on a big heap: only after IDLE_SECONDS without a
Lambda invocation, and only once RECLAIM_AFTER objects have been frozen since the last one.
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
    IDLE_SECONDS = 10.0
    RECLAIM_AFTER = 300_000  # objects frozen since the last full collection

    def __init__(self, activity: Callable[[], int]) -> None:
        self._activity = activity  # a number that changes while the cloud works (invocations so far)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gc-keeper", daemon=True)
        self.reclaimed = 0  # idle-time full collections so far
        self.reclaiming = False  # true during one (for gc.callbacks that time pauses)
        self._frozen_since_reclaim = 0  # objects the keeper's freezes moved since the last full collection

    def start(self) -> GarbageKeeper:
        """Freeze what start-up made and start the keeper, whose first full collection (in the background, at the
        first second without an invocation) frees start-up's garbage (the deploy's clients, parsed templates);
        done here, it held up readiness by ~0.23 s."""
        gc.freeze()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop freezing (LocalCloud.stop gives what was frozen back to the collector once it has stopped the rest:
        see release). Returns once the keeper's thread has ended: one still in a full collection (seconds, on a big
        heap) when a stop waited only 2 s froze everything again after release had given it back."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    @staticmethod
    def release() -> None:
        """Give what was frozen back to the collector: a stopped cloud's objects (and start-up's garbage, when it
        stopped within a second) are collected as any others in a process that goes on (tests, the Python API).
        Done last in a stop: a collection during the rest of it would walk all of them."""
        gc.unfreeze()

    def _run(self) -> None:
        last = self._activity()
        idle_since = time.monotonic()
        while not self._stopped.wait(self.FREEZE_SECONDS):
            current = self._activity()
            now = time.monotonic()
            if current != last:
                last, idle_since = current, now
            elif not self.reclaimed or (now - idle_since >= self.IDLE_SECONDS and
                                        self._frozen_since_reclaim >= self.RECLAIM_AFTER):
                # the first: start-up's garbage, at the first second without an invocation (it walks everything
                # start-up made: 230-280 ms with the interpreter held, which requests in flight waited for when it
                # ran a second after readiness whatever the load); what it leaves is no garbage to look for again
                self.reclaim()
            if not self._stopped.is_set():
                self._freeze()

    def _freeze(self) -> None:
        """Freeze what is alive, counting what this moves: the objects in the collector's generations, which are
        young (a second old at most). Not by gc.get_freeze_count(), which walks every frozen object: ~33 ms of
        CPU a call with the interpreter held, for ~330,000 objects spread over the cloud's heap (8 December); and
        not by the frozen count's growth since the last full collection: frozen objects that die leave it, so a
        cloud dropping old data while it made new data could go on never reclaiming its cycles."""
        young = sum(len(gc.get_objects(generation)) for generation in range(3))
        gc.freeze()
        self._frozen_since_reclaim += young

    def reclaim(self) -> int:
        """One full collection over everything, frozen included; the number of unreachable objects found."""
        started = time.perf_counter()
        self.reclaiming = True
        try:
            gc.unfreeze()
            found = gc.collect()
            gc.freeze()
        finally:
            self.reclaiming = False
        self._frozen_since_reclaim = 0
        self.reclaimed += 1
        logger.info("idle: one full garbage collection found %d unreachable objects in %.0f ms", found,
                    (time.perf_counter() - started) * 1000)
        return found

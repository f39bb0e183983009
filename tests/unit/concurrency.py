"""Running one call for many inputs at the same moment, for the tests of concurrent commits."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


def all_at_once(call: Callable[[Any], Any], inputs: Iterable[Any]) -> dict[Any, Any]:
    """``{input: call(input)}``, every call released together; the first exception any thread raised is raised."""
    inputs = list(inputs)
    start = threading.Barrier(len(inputs))
    results: dict[Any, Any] = {}
    errors: list[BaseException] = []

    def one(item):
        start.wait()
        try:
            results[item] = call(item)
        except Exception as e:  # noqa: BLE001 - a thread's exception would otherwise vanish
            errors.append(e)

    threads = [threading.Thread(target=one, args=(item,)) for item in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results

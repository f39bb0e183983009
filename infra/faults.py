"""Fault injection: a switch of the local cloud that makes named functions fail, time out or be throttled, and
SES refuse mail, with a given probability. Never code in functions/: the product runs unchanged.

A fault is written ``TARGET:KIND:PROBABILITY[:OPTION,OPTION...]``:

- ``TARGET`` a function's logical id (``MailSender``) or name (``notifyx-MailSender``), ``*`` for every function,
  or ``ses`` for SES's send operations;
- ``KIND`` for a function:
  - ``error``: the invocation fails before the handler runs, as an unhandled exception does
    (``errorType`` ``InjectedFault``; ``lambda.invoke`` answers with ``FunctionError`` set);
  - ``timeout``: the handler runs (its writes land) but its answer is lost: the caller gets Lambda's
    ``Sandbox.Timedout`` ("Task timed out after N.00 seconds") once the function's ``Timeout`` (or
    ``seconds=``) has passed since the invocation began;
  - ``throttle``: ``TooManyRequestsException`` (HTTP 429), as when reserved concurrency is used up;
- ``KIND`` for ``ses``: ``error`` (``ServiceUnavailable``, transient), ``throttle`` (``Throttling``: "Maximum
  sending rate exceeded.", transient) or ``reject`` (``MessageRejected``, permanent); nothing is sent;
- ``PROBABILITY`` between 0 and 1;
- options: ``after=S`` (active S seconds after it is installed), ``for=S`` (then for S seconds only),
  ``seconds=S`` (a timeout's wait), ``sender=ADDRESS`` (``ses``: only mail from this address, or from this
  domain when ADDRESS has no ``@``: one mail provider's identity).

Set with ``notifyx up --fault SPEC`` (repeatable) or ``NOTIFYX_FAULTS="SPEC;SPEC"``; ``NOTIFYX_FAULTS_SEED`` makes
the draws repeatable. In Python: ``faults.install([...])``, ``faults.add(spec)``, ``faults.clear()``.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("notifyx.faults")

ENV_VAR = "NOTIFYX_FAULTS"
SEED_VAR = "NOTIFYX_FAULTS_SEED"
FUNCTION_KINDS = ("error", "timeout", "throttle")
SES_KINDS = ("error", "throttle", "reject")


class FaultSpecError(ValueError):
    """A fault spec that cannot be read."""


@dataclass
class Fault:
    """One configured fault and how often it fired."""

    target: str
    kind: str
    probability: float
    after: float = 0.0
    duration: float | None = None
    seconds: float | None = None
    sender: str | None = None
    spec: str = ""
    installed_at: float = field(default_factory=time.monotonic)
    fired: int = 0
    drawn: int = 0

    def active(self, now: float) -> bool:
        start = self.installed_at + self.after
        return now >= start and (self.duration is None or now < start + self.duration)

    def matches_function(self, name: str) -> bool:
        return self.target != "ses" and (self.target in ("*", name) or name.endswith("-" + self.target))

    def matches_sender(self, source: str | None) -> bool:
        if self.sender is None:
            return True
        address = (source or "").rpartition("<")[2].rstrip(">").strip().lower()
        wanted = self.sender.lower()
        return address == wanted if "@" in wanted else address.rpartition("@")[2] == wanted


def parse(spec: str) -> Fault:
    """A Fault from ``TARGET:KIND:PROBABILITY[:OPTIONS]`` (FaultSpecError says what is wrong)."""
    parts = spec.strip().split(":", 3)
    if len(parts) < 3 or not parts[0]:
        raise FaultSpecError(f"fault {spec!r}: expected TARGET:KIND:PROBABILITY[:OPTIONS]")
    target, kind, probability_text = parts[0], parts[1].lower(), parts[2]
    kinds = SES_KINDS if target == "ses" else FUNCTION_KINDS
    if kind not in kinds:
        raise FaultSpecError(f"fault {spec!r}: kind must be one of {', '.join(kinds)}")
    try:
        probability = float(probability_text)
    except ValueError:
        raise FaultSpecError(f"fault {spec!r}: probability {probability_text!r} is not a number") from None
    if not 0.0 <= probability <= 1.0:
        raise FaultSpecError(f"fault {spec!r}: probability must be between 0 and 1")
    fault = Fault(target, kind, probability, spec=spec.strip())
    for option in (parts[3].split(",") if len(parts) == 4 and parts[3] else []):
        key, sep, value = option.partition("=")
        key = key.strip().lower()
        if not sep:
            raise FaultSpecError(f"fault {spec!r}: option {option!r} is not KEY=VALUE")
        if key == "sender":
            if target != "ses":
                raise FaultSpecError(f"fault {spec!r}: sender= is an option of ses faults")
            fault.sender = value.strip()
            continue
        if key not in ("after", "for", "seconds"):
            raise FaultSpecError(f"fault {spec!r}: unknown option {key!r} (after, for, seconds, sender)")
        try:
            number = float(value)
        except ValueError:
            raise FaultSpecError(f"fault {spec!r}: {key}={value!r} is not a number of seconds") from None
        if number < 0:
            raise FaultSpecError(f"fault {spec!r}: {key} must not be negative")
        if key == "after":
            fault.after = number
        elif key == "for":
            fault.duration = number
        else:
            fault.seconds = number
    return fault


def parse_many(text: str | Iterable[str] | None) -> list[Fault]:
    """Faults from specs separated by ``;`` or whitespace (a string), or from a list of specs."""
    if not text:
        return []
    specs = text.replace(";", " ").split() if isinstance(text, str) else [s for s in text if s]
    return [parse(s) for s in specs]


class Injector:
    """The installed faults; draws decide, per invocation or send, whether one fires."""

    def __init__(self, faults: Iterable[Fault] = (), seed: int | None = None) -> None:
        self._faults: list[Fault] = list(faults)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def faults(self) -> list[Fault]:
        return list(self._faults)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _draw(self, matches: Callable[[Fault], bool]) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            for fault in self._faults:
                if not matches(fault) or not fault.active(now):
                    continue
                fault.drawn += 1
                if self._random.random() < fault.probability:
                    fault.fired += 1
                    return fault
        return None

    def draw_function(self, name: str) -> Fault | None:
        """The fault that fires for this invocation of `name`, if one does."""
        return self._draw(lambda f: f.matches_function(name))

    def draw_ses(self, source: str | None) -> Fault | None:
        """The SES fault that fires for this send from `source`, if one does."""
        return self._draw(lambda f: f.target == "ses" and f.matches_sender(source))

    def stats(self) -> list[dict[str, Any]]:
        """Each fault's spec, how many times it was drawn and how many times it fired."""
        with self._lock:
            return [{"fault": f.spec, "drawn": f.drawn, "fired": f.fired} for f in self._faults]


_injector: Injector | None = None


def install(faults: Iterable[Fault | str] = (), seed: int | None = None) -> Injector | None:
    """Install these faults plus NOTIFYX_FAULTS' (replacing any installed); None (no cost) when there are none.

    SES faults take effect through the ``ses-faults`` patch of infra/moto_patches.py, which LocalCloud applies.
    """
    global _injector
    parsed = [f if isinstance(f, Fault) else parse(f) for f in faults] + parse_many(os.environ.get(ENV_VAR))
    if seed is None and os.environ.get(SEED_VAR):
        seed = int(os.environ[SEED_VAR])
    _injector = Injector(parsed, seed) if parsed else None
    for fault in parsed:
        logger.warning("fault injection: %s", fault.spec)
    return _injector


def add(spec: Fault | str) -> Fault:
    """Add one fault to the running cloud (its after=/for= count from now)."""
    global _injector
    fault = spec if isinstance(spec, Fault) else parse(spec)
    fault.installed_at = time.monotonic()
    if _injector is None:
        _injector = Injector()
    _injector.add(fault)
    return fault


def clear() -> None:
    """No faults any more."""
    global _injector
    _injector = None


def injector() -> Injector | None:
    """The installed faults, or None."""
    return _injector


# --------------------------------------------------------------------------- where faults fire
def invoke(name: str, timeout: float, run: Callable[[], Any]) -> Any:
    """Run one invocation of function `name` (``run()``) through the installed faults (the runtime calls this)."""
    active = _injector
    fault = active.draw_function(name) if active is not None else None
    if fault is None:
        return run()
    from infra.runtime import FunctionError, Throttled

    logger.info("fault injected: %s %s", fault.kind, name)
    if fault.kind == "throttle":
        raise Throttled(f"Rate Exceeded. (fault injected: {fault.spec})")
    if fault.kind == "error":
        raise FunctionError("InjectedFault", f"fault injected: {fault.spec}")
    started = time.monotonic()
    wait = fault.seconds if fault.seconds is not None else timeout
    try:
        run()
    except Exception:  # noqa: BLE001, S110 - the answer is lost either way: the caller sees the timeout
        pass
    remaining = started + wait - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    raise FunctionError("Sandbox.Timedout", f"Task timed out after {wait:.2f} seconds")


def ses_send(source: str | None) -> None:
    """Raise SES's error when an SES fault fires for a send from `source` (the ``ses-faults`` patch calls this)."""
    active = _injector
    fault = active.draw_ses(source) if active is not None else None
    if fault is None:
        return
    from moto.ses.exceptions import MessageRejectedError, SesError

    logger.info("fault injected: ses %s (%s)", fault.kind, source)
    if fault.kind == "reject":
        raise MessageRejectedError("Email address is on the suppression list (fault injected)")
    error = SesError("Throttling", "Maximum sending rate exceeded.") if fault.kind == "throttle" else \
        SesError("ServiceUnavailable", "Service is unavailable. Try again later.")
    raise error

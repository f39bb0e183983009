"""The functions' configuration: the environment template.yaml gives each function, read here and nowhere else.

A value is read once per cold start (a table name when its model is imported, any other value on first use,
then kept) and a missing variable fails at once with its name: no default that quietly points a function at a
table of another stack. ``forget()`` drops what was read (tests change the environment between cases).
"""
from __future__ import annotations

import os
import threading

_read: dict[str, str | None] = {}
_lock = threading.Lock()


class MissingConfiguration(RuntimeError):
    """A variable the function needs is not in its environment (template.yaml did not give it)."""

    def __init__(self, name: str):
        super().__init__(f"{name} is not set: template.yaml must give it to this function")
        self.name = name


def text(name: str) -> str:
    """The variable's value, read once; MissingConfiguration naming it if it is unset or empty."""
    with _lock:
        if name not in _read:
            value = os.environ.get(name)
            if not value:
                raise MissingConfiguration(name)
            _read[name] = value
        return _read[name]


def optional(name: str) -> str | None:
    """The variable's value, read once, or None where the template does not give it (an optional setting)."""
    with _lock:
        if name not in _read:
            _read[name] = os.environ.get(name) or None
        return _read[name]


def integer(name: str) -> int:
    """The variable as a whole number (a template Number parameter)."""
    return int(text(name))


def number(name: str) -> float:
    """The variable as a number."""
    return float(text(name))


def region() -> str:
    """The region the function runs in (Lambda sets AWS_REGION)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return text(name)
    raise MissingConfiguration("AWS_REGION")


def forget() -> None:
    """Drop every value read (the next read is a cold start's)."""
    with _lock:
        _read.clear()

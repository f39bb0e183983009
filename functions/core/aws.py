"""AWS SDK clients, one per container for each service, endpoint and configuration.

boto3 clients are thread-safe but creating them is not, and creating one costs milliseconds; a function's own
threads (the gateway's fan-out senders, say) share them.
"""
from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str, *, endpoint_url: str | None = None, **config: Any) -> Any:
    """The shared boto3 client of ``service``; ``config`` are botocore ``Config`` options."""
    key = repr((service, endpoint_url, sorted(config.items())))
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.client(service, endpoint_url=endpoint_url,
                                         config=Config(**config) if config else None)
        return _clients[key]


def forget() -> None:
    """Drop every client (tests: a client made under one moto mock would bypass the next)."""
    with _lock:
        _clients.clear()

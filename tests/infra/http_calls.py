"""One HTTP request from a test, as a client sees the answer: its status (an error status too, not an exception),
its JSON body, its headers."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call(url: str, *, method: str | None = None, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read()), dict(refused.headers)

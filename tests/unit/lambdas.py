"""Lambda's invoke API, as core.services uses it, answered by real handlers in this process.

moto's Lambda needs Docker to run a function, so unit tests hand this to ``services._lambda``; the end-to-end
tests run the same calls through the local cloud's runtime.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable


class InProcessLambda:
    def __init__(self, handlers: dict[str, Callable]):
        self.handlers = handlers
        self.invoked: list[tuple[str, dict]] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict:  # noqa: N803 - boto3's parameter names
        event = json.loads(Payload)
        self.invoked.append((FunctionName, event))
        if FunctionName not in self.handlers:  # what Lambda's ResourceNotFoundException amounts to for callers
            raise LookupError(f"Function not found: {FunctionName}")
        result = self.handlers[FunctionName](event, None)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}

"""GET /health: asks every internal service named by a *_FUNCTION variable for op "health", in parallel."""
from __future__ import annotations

import contextvars
import os
from concurrent.futures import ThreadPoolExecutor


from core import services
from core.http import service_app

app = service_app("notifyx-status")

SUFFIXES = ("_SERVICE_FUNCTION", "_FUNCTION")


def checked_services() -> dict[str, str]:
    """Service name -> env var naming its function, e.g. "mail" -> MAIL_SERVICE_FUNCTION (set in template.yaml)."""
    found = {}
    for var in sorted(os.environ):
        suffix = next((s for s in SUFFIXES if var.endswith(s)), None)
        if suffix and os.environ[var]:
            found[var[: -len(suffix)].lower()] = var
    return found


def _probe(var: str) -> str:
    try:
        services.call(var, "health")
        return "ok"
    except Exception:  # a probe: any failure (domain, transport, crash) means not healthy
        return "unavailable"


@app.route("/health", methods=["GET"])
def health() -> dict:
    targets = checked_services()
    if not targets:
        return {"status": "ok", "services": {}}
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        # each probe runs in this invocation's context: the Lambda runtime keeps the function's env there
        futures = {name: pool.submit(contextvars.copy_context().run, _probe, var) for name, var in targets.items()}
        results = {name: future.result() for name, future in futures.items()}
    return {"status": "ok" if all(v == "ok" for v in results.values()) else "degraded", "services": results}

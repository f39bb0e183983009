"""GET /health: every service of the Cloud Map namespace, its instances' health, and every circuit breaker.

A service whose instances name a function (``FUNCTION_ARN``) is asked for op "health" through core.services,
in parallel; the mail providers (mail-sender) are shown by their Cloud Map health. Each breaker's shared state
comes from the BreakersTable.
"""
from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from core import aws, breakers, config, discovery, services
from core.http import service_app

app = service_app("notifyx-status")


def service_names() -> list[str]:
    """The services registered in the namespace (template.yaml's AWS::ServiceDiscovery::Service resources)."""
    pages = aws.client("servicediscovery").get_paginator("list_services").paginate(
        Filters=[{"Name": "NAMESPACE_ID", "Values": [config.text("SERVICE_NAMESPACE_ID")], "Condition": "EQ"}])
    return sorted(service["Name"] for page in pages for service in page.get("Services", []))


def _probe(name: str) -> dict:
    try:
        found = discovery.instances(name)
    except discovery.NotFound:
        return {"status": "unavailable", "instances": {}}
    health = {i.id: "healthy" if i.healthy else "unhealthy" for i in found}
    if not any("FUNCTION_ARN" in i.attributes for i in found):  # providers, not functions: their health
        return {"status": "ok" if "healthy" in health.values() else "unavailable", "instances": health}
    try:
        services.call(name, "health")
        status = "ok"
    except Exception:  # a probe: any failure (domain, transport, crash, open circuit) means not healthy
        status = "unavailable"
    return {"status": status, "instances": health}


@app.route("/health", methods=["GET"])
def health() -> dict:
    names = service_names()
    discovery.forget()  # the health page shows Cloud Map's answer now, not this sandbox's cached one
    results: dict[str, dict] = {}
    if names:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            # each probe runs in this invocation's context: the Lambda runtime keeps the function's env there
            futures = {name: pool.submit(contextvars.copy_context().run, _probe, name) for name in names}
            results = {name: future.result() for name, future in futures.items()}
    shared = breakers.all_states()
    healthy = all(r["status"] == "ok" and "unhealthy" not in r["instances"].values() for r in results.values()) \
        and all(b["state"] == breakers.CLOSED for b in shared.values())
    return {"status": "ok" if healthy else "degraded", "services": results, "breakers": shared}

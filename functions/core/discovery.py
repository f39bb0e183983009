"""Finding a service's instances in AWS Cloud Map: DiscoverInstances, a short per-sandbox cache, round robin.

The namespace is ``SERVICE_NAMESPACE`` (template.yaml); each service's instances carry their attributes
(``FUNCTION_ARN`` of the function to invoke, or a mail provider's ``SENDER`` and ``REGION``; ``SERVICE_ID`` for
reporting their health). An answer is kept ``DISCOVERY_CACHE_SECONDS`` per sandbox: DiscoverInstances is a
throttled data-plane API and a service's instances change rarely; a breaker's shared state (core.breakers),
read on every call, is what takes an instance out at once.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from core import aws, config

log = logging.getLogger(__name__)

HEALTHY = "HEALTHY"


@dataclass(frozen=True)
class Instance:
    service: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    healthy: bool = True

    @property
    def breaker_name(self) -> str:
        return f"{self.service}/{self.id}"


_cache: dict[str, tuple[float, list[Instance]]] = {}
_turns: dict[str, itertools.count] = {}
_lock = threading.Lock()


class NotFound(Exception):
    """The service has no instance (or Cloud Map could not be asked)."""


def _client():
    return aws.client("servicediscovery", retries={"max_attempts": 2})


def _namespace() -> str:
    return config.text("SERVICE_NAMESPACE")


def instances(service: str) -> list[Instance]:
    """Every registered instance of `service` with its health (cached DISCOVERY_CACHE_SECONDS)."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(service)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        answer = _client().discover_instances(NamespaceName=_namespace(), ServiceName=service, HealthStatus="ALL")
    except Exception as error:
        if cached is not None:  # Cloud Map not answering: the last answer is better than none
            log.warning("DiscoverInstances %s failed (%s); using the last answer", service, error)
            return cached[1]
        raise NotFound(f"{service}: DiscoverInstances failed: {error}") from error
    found = [Instance(service, i["InstanceId"], dict(i.get("Attributes") or {}), i.get("HealthStatus") == HEALTHY)
             for i in answer.get("Instances", [])]
    found.sort(key=lambda i: i.id)
    ttl = config.number("DISCOVERY_CACHE_SECONDS")
    with _lock:
        _cache[service] = (now + ttl, found)
    return found


def rotation(service: str) -> list[Instance]:
    """`service`'s healthy instances, starting at the next one in this sandbox's round robin."""
    healthy = [i for i in instances(service) if i.healthy]
    if not healthy:
        return []
    with _lock:
        turn = next(_turns.setdefault(service, itertools.count()))
    start = turn % len(healthy)
    return healthy[start:] + healthy[:start]


def unhealthy(service: str) -> list[Instance]:
    """`service`'s instances Cloud Map reports unhealthy (candidates for a breaker's half-open trial)."""
    return [i for i in instances(service) if not i.healthy]


def forget(service: str | None = None) -> None:
    """Drop the cached answer (all, or one service's): the next call asks Cloud Map."""
    with _lock:
        if service is None:
            _cache.clear()
        else:
            _cache.pop(service, None)


def report_health(instance: Instance, healthy: bool) -> None:
    """Mark `instance` HEALTHY or UNHEALTHY in Cloud Map (its service has a custom health check), for every
    sandbox's next DiscoverInstances. Failing to is logged: the shared breaker still refuses meanwhile."""
    service_id = instance.attributes.get("SERVICE_ID")
    if not service_id:
        log.warning("%s has no SERVICE_ID attribute: its health is not reported", instance.breaker_name)
        return
    status = HEALTHY if healthy else "UNHEALTHY"
    try:
        _client().update_instance_custom_health_status(ServiceId=service_id, InstanceId=instance.id, Status=status)
    except Exception as error:  # noqa: BLE001 - see above
        log.warning("could not mark %s %s in Cloud Map: %s", instance.breaker_name, status, error)
        return
    log.info("Cloud Map: %s is %s", instance.breaker_name, status)
    forget(instance.service)

"""Logs, metrics and traces, as Lambda functions emit them: Powertools for AWS Lambda's Logger, Metrics, Tracer.

- Logger: one JSON object per line on stdout (CloudWatch Logs), with the invocation's request id, cold start, the
  service, and the correlation ids an action sets (``correlate(txid=..., connection_id=...)``); the functions'
  ``logging.getLogger(__name__)`` records come out the same way.
- Metrics: CloudWatch embedded metric format (EMF) in the log, flushed once per invocation, namespace
  ``POWERTOOLS_METRICS_NAMESPACE`` (template.yaml: Notifyx), dimension ``service``.
- Tracer: the X-Ray SDK with boto3/botocore patched (every AWS call a subsegment, the trace header passed on,
  except calls made ``untraced()``) and ``step(name)`` subsegments for the steps worth seeing in a trace.

``POWERTOOLS_TRACE_DISABLED`` / ``POWERTOOLS_METRICS_DISABLED`` (template.yaml's Telemetry parameter) switch them
off. The service is the handler's package (``_HANDLER`` = "gateway.actions.handler" -> "gateway").
"""
from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or (os.environ.get("_HANDLER") or "notifyx").split(".", 1)[0]
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Notifyx"
#: this project's packages, whose loggers log as the Logger does
PACKAGES = {"core", "auth", "persist", "counter", "transaction", "gateway", "mail", "avatar", "status"}

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# botocore is patched below, so that the calls of invocations Lambda did not sample cost nothing
tracer = Tracer(service=SERVICE, auto_patch=False)
_tracing = not tracer.disabled
_sampled = False
_untraced = threading.local()  # .on: this thread's AWS calls are not subsegments now (untraced())
# most invocations (a ping, an authorizer) count nothing: Powertools would warn about it on every one
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
_configured = False

Unit = MetricUnit


def _configure_loggers() -> None:
    global _configured
    if not _configured:
        copy_config_to_registered_loggers(source_logger=logger, include=PACKAGES)
        _configured = True


def instrumented(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A Lambda handler with the Logger's context, its metrics flushed as EMF and a traced ``## handler``."""
    traced = tracer.capture_lambda_handler(handler, capture_response=False)
    measured = metrics.log_metrics(traced, raise_on_empty_metrics=False)

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        _configure_loggers()
        return measured(event, context)

    logged = logger.inject_lambda_context(wrapped, clear_state=True)

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        if context is None:  # called directly (tests), not by Lambda: nothing to report on
            return handler(event, context)
        if _tracing:
            _sample_this_invocation()
        return logged(event, context)

    return entry


def _sample_this_invocation() -> None:
    """Trace this invocation's AWS calls if Lambda sampled it. The X-Ray SDK records the calls of unsampled ones
    too, as dummy subsegments that re-read the trace header and extract the call's metadata (~250 us of CPU a call
    here); those go straight to botocore, whose own handler passes the unsampled header on."""
    global _sampled
    from aws_xray_sdk import global_sdk_config

    _sampled = "Sampled=1" in os.environ.get("_X_AMZN_TRACE_ID", "")
    global_sdk_config.set_sdk_enabled(_sampled)


def _patch_botocore() -> None:
    """The X-Ray SDK's botocore patch (a subsegment per call, the trace header on the request), for sampled
    invocations only (what Powertools' Tracer patches, made conditional)."""
    import wrapt
    from aws_xray_sdk.ext.boto_utils import inject_header
    from aws_xray_sdk.ext.botocore.patch import _xray_traced_botocore

    def call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _sampled or getattr(_untraced, "on", False):
            return wrapped(*args, **kwargs)
        return _xray_traced_botocore(wrapped, instance, args, kwargs)

    def request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _sampled or getattr(_untraced, "on", False):
            return wrapped(*args, **kwargs)
        return inject_header(wrapped, instance, args, kwargs)

    wrapt.wrap_function_wrapper("botocore.client", "BaseClient._make_api_call", call)
    wrapt.wrap_function_wrapper("botocore.endpoint", "Endpoint.prepare_request", request)


if _tracing:
    _patch_botocore()


def correlate(**ids: str | None) -> None:
    """Correlation ids for every log line of this invocation (txid, connection_id) and the trace's annotations."""
    present = {k: v for k, v in ids.items() if v}
    if not present:
        return
    logger.append_keys(**present)
    for key, value in present.items():
        try:
            tracer.put_annotation(key, value)
        except Exception:  # noqa: BLE001 - no trace entity (tracing off, tests): annotations are optional
            pass


def count(name: str, value: float = 1, unit: str = MetricUnit.Count) -> None:
    """Add to a metric of this invocation (flushed as EMF when the handler returns)."""
    metrics.add_metric(name=name, unit=unit, value=value)


def gauge(name: str, value: float) -> None:
    """A level at this moment (e.g. OpenConnections), as a Count metric: read it with Maximum or Average."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value_ms: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(value_ms, 3))


def count_by(name: str, dimension: str, value: str, amount: float = 1) -> None:
    """A count with its own dimension besides ``service`` (e.g. aborts by reason), in its own EMF line, now."""
    count_with(name, {"service": SERVICE, dimension: value}, amount)


def count_with(name: str, dimensions: dict[str, str], amount: float = 1) -> None:
    """A count with exactly these dimensions, written as its own EMF line at once (not at the handler's end)."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return
    first, *rest = dimensions.items()
    with single_metric(name=name, unit=MetricUnit.Count, value=amount, namespace=NAMESPACE,
                       default_dimensions=dict([first])) as metric:
        for key, value in rest:
            metric.add_dimension(name=key, value=value)


@contextmanager
def step(name: str) -> Iterator[None]:
    """A subsegment of the trace for one meaningful step (e.g. "prepare", "fan-out")."""
    if not _tracing:
        yield
        return
    with tracer.provider.in_subsegment(f"## {name}"):
        yield


@contextmanager
def untraced() -> Iterator[None]:
    """This thread's AWS calls in the block are no subsegments of the trace (botocore's own handler still passes
    the trace header on): for calls too many to trace one by one, which the step's subsegment sums up
    (``describe``)."""
    before = getattr(_untraced, "on", False)
    _untraced.on = True
    try:
        yield
    finally:
        _untraced.on = before


def describe(**figures: Any) -> None:
    """Metadata on the current subsegment of a sampled invocation (e.g. a fan-out's counts); nothing otherwise."""
    if not (_tracing and _sampled):
        return
    for key, value in figures.items():
        try:
            tracer.put_metadata(key, value)
        except Exception:  # noqa: BLE001 - no trace entity (tests): metadata is optional
            pass


@contextmanager
def timed(metric: str) -> Iterator[None]:
    """Record how long the block took, in ms, as `metric`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        milliseconds(metric, (time.perf_counter() - started) * 1000)


def breaker_changed(name: str, after: str) -> None:
    """A circuit breaker changed state (core/breakers.py, by whoever won the change): ``BreakerStateChange``,
    dimensions Breaker and State."""
    count_with("BreakerStateChange", {"Breaker": name, "State": after})

"""The data the dashboard page (client/web/dashboard.html) draws: the last minutes of the metrics, the alarms, the
recent traces and the waterfall of one publish. Read from the MetricStore and the TraceStore directly: the page
polls every few seconds and must cost the cloud little."""
from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from infra.observability.xray import waterfall

WINDOW = 300
STEP = 5
APP = "Notifyx"


def _rate(store: Any, namespace: str, name: str, dims: dict[str, str] | None = None) -> list[float | None]:
    values = store.timeline(namespace, name, "Sum", dims, WINDOW, STEP)
    return [None if v is None else round(v / STEP, 3) for v in values]


def _stat(store: Any, namespace: str, name: str, stat: str, dims: dict[str, str] | None = None) -> list:
    return [None if v is None else round(v, 2) for v in store.timeline(namespace, name, stat, dims, WINDOW, STEP)]


def _names(stack: Any, kind: str) -> list[tuple[str, str]]:
    return sorted((r.logical_id, r.physical_id) for r in stack.of_type(kind)) if stack is not None else []


def dashboard_data(observability: Any, query: str = "") -> bytes:
    store, stack = observability.store, observability.stack
    now = time.time()
    end = int(now) // STEP * STEP
    timestamps = list(range(end - WINDOW + STEP, end + STEP, STEP))
    committed = _rate(store, APP, "PublishesCommitted")
    aborted = _rate(store, APP, "PublishesAborted")
    abort_rate = [None if c is None and a is None else round(100 * (a or 0) / ((a or 0) + (c or 0)), 2)
                  if (a or 0) + (c or 0) else 0.0 for c, a in zip(committed, aborted, strict=True)]
    publish = {"committed_per_s": committed, "aborted_per_s": aborted, "abort_rate_pct": abort_rate,
               **{f"latency_{p}_ms": _stat(store, APP, "PublishLatency", p) for p in ("p50", "p90", "p99")},
               "commit_p50_ms": _stat(store, APP, "TwoPhaseCommitDuration", "p50")}
    ws_dims = [o.dims for o in observability.websockets]
    delivery = {"deliveries_per_s": _rate(store, APP, "DeliveriesSent"),
                "gone_removed_per_s": _rate(store, APP, "GoneConnectionsRemoved"),
                "delivery_p50_ms": _stat(store, APP, "DeliveryLatency", "p50"),
                "delivery_p99_ms": _stat(store, APP, "DeliveryLatency", "p99"),
                "open_connections": _stat(store, "Notifyx/Local", "OpenConnections", "Maximum",
                                          ws_dims[0] if ws_dims else None)}
    queues = {}
    for logical, url in _names(stack, "AWS::SQS::Queue"):
        name = url.rsplit("/", 1)[-1]
        dims = {"QueueName": name}
        queues[logical] = {"name": name,
                           "visible": _stat(store, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", dims),
                           "in_flight": _stat(store, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "Maximum",
                                              dims),
                           "oldest_age_s": _stat(store, "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", dims)}
    sources = [{"queue": s["queue_arn"].rsplit(":", 1)[1], "function": s["function"],
                "maximum_concurrency": s.get("maximum_concurrency"),
                "concurrency": _stat(store, "AWS/Lambda", "ConcurrentExecutions", "Maximum",
                                     {"FunctionName": s["function"]})}
               for s in (stack.sqs_sources if stack is not None else [])]
    mail = {"sent_per_s": _rate(store, APP, "MailSent"), "retried_per_s": _rate(store, APP, "MailRetried"),
            "failed_per_s": _rate(store, APP, "MailFailed"),
            "in_flight": _stat(store, APP, "MailInFlight", "Maximum")}
    functions = {}
    for logical, name in _names(stack, "AWS::Lambda::Function"):
        dims = {"FunctionName": name}
        invocations = store.window("AWS/Lambda", "Invocations", "Sum", dims, now - WINDOW, now + 1)
        if not invocations:
            continue
        functions[logical] = {"name": name, "invocations_per_s": _rate(store, "AWS/Lambda", "Invocations", dims),
                              "errors_per_s": _rate(store, "AWS/Lambda", "Errors", dims),
                              "duration_p50_ms": _stat(store, "AWS/Lambda", "Duration", "p50", dims),
                              "duration_p99_ms": _stat(store, "AWS/Lambda", "Duration", "p99", dims),
                              "concurrency": _stat(store, "AWS/Lambda", "ConcurrentExecutions", "Maximum", dims),
                              "totals": {"invocations": invocations,
                                         "errors": store.window("AWS/Lambda", "Errors", "Sum", dims, now - WINDOW,
                                                                now + 1) or 0,
                                         "throttles": store.window("AWS/Lambda", "Throttles", "Sum", dims,
                                                                   now - WINDOW, now + 1) or 0}}
    breakers = _breaker_changes(observability, store, now)
    alarms = [{"name": a.name, "state": a.state_value, "reason": a.state_reason, "description": a.description,
               "updated": a.state_updated_timestamp.isoformat() + "Z"} for a in _alarms(observability)]
    selected = (parse_qs(query).get("trace") or [None])[0]
    traces = [_summary(tid, docs) for tid, docs in observability.traces.recent(40)]
    publish_traces = [t for t in traces if t["publish"]]
    chosen = selected or (publish_traces[0]["id"] if publish_traces else traces[0]["id"] if traces else None)
    document = {"now": now, "window_s": WINDOW, "step_s": STEP, "timestamps": timestamps, "publish": publish,
                "delivery": delivery, "queues": queues, "event_sources": sources, "mail": mail,
                "functions": functions, "breakers": breakers, "alarms": alarms, "traces": traces[:15],
                "waterfall": {"trace_id": chosen,
                              "rows": waterfall(observability.traces.get(chosen)) if chosen else []},
                "xray": {"segments_received": observability.traces.received}}
    return json.dumps(document).encode()


def _breaker_changes(observability: Any, store: Any, now: float) -> list[dict[str, Any]]:
    """State changes of circuit breakers in the last hour, by breaker and new state (BreakerStateChange, dimensions
    Breaker and State): from the functions' EMF lines and from whatever PutMetricData stored."""
    from datetime import UTC, datetime

    from moto.cloudwatch.models import cloudwatch_backends

    changes: dict[tuple[str, str], float] = {}
    for namespace, metric, dims in store.keys():
        if namespace == APP and metric == "BreakerStateChange":
            labels = dict(dims)
            total = store.window(namespace, metric, "Sum", labels, now - 3600, now + 1) or 0
            key = (labels.get("Breaker", ""), labels.get("State", ""))
            changes[key] = changes.get(key, 0) + total
    since = datetime.fromtimestamp(now - 3600, UTC).replace(tzinfo=None)
    backend = cloudwatch_backends[observability.account][observability.region]
    for datum in list(backend.metric_data):
        stamp = datum.timestamp
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        if datum.namespace == APP and datum.name == "BreakerStateChange" and stamp >= since:
            labels = {d.name: d.value for d in datum.dimensions}
            key = (labels.get("Breaker", ""), labels.get("State", ""))
            changes[key] = changes.get(key, 0) + float(getattr(datum, "value", 0) or getattr(datum, "sum", 0))
    return [{"breaker": b, "state": s, "changes": n} for (b, s), n in sorted(changes.items())]


def _alarms(observability: Any) -> list[Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    return sorted(cloudwatch_backends[observability.account][observability.region].alarms.values(),
                  key=lambda a: a.name)


def _summary(trace_id: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    segments = [d for d in documents if "origin" in d or "parent_id" not in d]
    roots = [d for d in segments if not d.get("parent_id")] or segments or documents
    root = min(roots, key=lambda d: d["start_time"])
    start = min(d["start_time"] for d in documents)
    end = max(d.get("end_time") or d["start_time"] for d in documents)
    names = sorted({d.get("name", "") for d in segments})
    return {"id": trace_id, "root": root.get("name"), "start": start, "duration_ms": round((end - start) * 1000, 1),
            "segments": len(documents), "services": names,
            "fault": any(d.get("fault") or d.get("error") for d in documents),
            # a publish: the gateway started a state machine's execution (its 2PC)
            "publish": any(d.get("origin") == "AWS::StepFunctions::StateMachine" for d in segments)
            and any("Gateway" in n for n in names)}

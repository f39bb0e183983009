"""CloudWatch metrics of the local cloud: one store, read three ways.

Every datapoint (EMF lines of the functions' logs, the metrics AWS publishes itself for Lambda, API Gateway, SQS
and Step Functions) is recorded once into a MetricStore, which keeps
- per-minute statistic sets (with their samples, for percentiles) that moto's CloudWatch serves: the store is a
  moto ``CloudWatchMetricProvider``, so ``get-metric-data``, ``get-metric-statistics`` and ``list-metrics``
  answer them beside what ``PutMetricData`` stored;
- per-second buckets of the last minutes, which the dashboard and the Prometheus endpoint read without going
  through the CloudWatch API.
"""
from __future__ import annotations

import json
import math
import random
import threading
import time
from array import array
from datetime import UTC, datetime

from moto.cloudwatch.models import MetricAggregatedDatum
from moto.core.common_models import CloudWatchMetricProvider

#: per-second history kept for the dashboard (seconds)
SECOND_HISTORY = 900
#: per-minute history served to the CloudWatch API (minutes): CloudWatch keeps 1-minute data 15 days
MINUTE_HISTORY = 180
#: samples kept per minute and series for percentiles (reservoir-sampled beyond)
SAMPLES_PER_MINUTE = 2000

Key = tuple[str, str, tuple[tuple[str, str], ...]]


class _Bucket:
    __slots__ = ("count", "sum", "min", "max", "values")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.values = array("d")  # 8 bytes a sample, where a list of floats took 32

    def add(self, value: float, keep: int) -> None:
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if len(self.values) < keep:
            self.values.append(value)
        else:
            slot = random.randrange(self.count)
            if slot < keep:
                self.values[slot] = value


class MinuteDatum(MetricAggregatedDatum):
    """A minute's statistic set, as moto stores StatisticValues, plus the samples percentiles are computed from."""

    def __init__(self, key: Key, unit: str | None, minute: int) -> None:
        namespace, name, dims = key
        super().__init__(namespace, name, min_stat=math.inf, max_stat=-math.inf, sample_count=0, sum_stat=0.0,
                         dimensions=[{"Name": k, "Value": v} for k, v in dims],
                         timestamp=datetime.fromtimestamp(minute * 60, UTC).replace(tzinfo=None), unit=unit)
        self.bucket = _Bucket()

    def add(self, value: float) -> None:
        self.bucket.add(value, SAMPLES_PER_MINUTE)
        self.sample_count, self.sum = self.bucket.count, self.bucket.sum
        self.min, self.max = self.bucket.min, self.bucket.max

    @property
    def values(self) -> list[float]:
        return self.bucket.values


class _Series:
    __slots__ = ("unit", "seconds", "minutes")

    def __init__(self, unit: str | None) -> None:
        self.unit = unit
        self.seconds: dict[int, _Bucket] = {}
        self.minutes: dict[int, MinuteDatum] = {}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def statistic(stat: str, buckets: list[_Bucket]) -> float | None:
    """A CloudWatch statistic (Sum, Average, Minimum, Maximum, SampleCount, pNN) over buckets; None: no data."""
    buckets = [b for b in buckets if b.count]
    if not buckets:
        return None
    if stat == "Sum":
        return sum(b.sum for b in buckets)
    if stat == "SampleCount":
        return float(sum(b.count for b in buckets))
    if stat == "Average":
        return sum(b.sum for b in buckets) / sum(b.count for b in buckets)
    if stat == "Minimum":
        return min(b.min for b in buckets)
    if stat == "Maximum":
        return max(b.max for b in buckets)
    if stat.startswith("p"):
        return percentile([v for b in buckets for v in b.values], float(stat[1:]))
    raise ValueError(f"unknown statistic {stat!r}")


class MetricStore:
    """Datapoints by (namespace, metric, dimensions); thread-safe."""

    def __init__(self) -> None:
        self._series: dict[Key, _Series] = {}
        self._lock = threading.Lock()
        self._pruned = 0
        self.datapoints = 0

    def record(self, namespace: str, name: str, value: float, unit: str | None = None,
               dimensions: dict[str, str] | None = None, at: float | None = None) -> None:
        at = time.time() if at is None else at
        key: Key = (namespace, name, tuple(sorted((dimensions or {}).items())))
        second = int(at)
        minute = second // 60
        value = float(value)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(unit)
            bucket = series.seconds.get(second)
            if bucket is None:
                bucket = series.seconds[second] = _Bucket()
            bucket.add(value, 200)
            datum = series.minutes.get(minute)
            if datum is None:
                datum = series.minutes[minute] = MinuteDatum(key, unit, minute)
            datum.add(value)
            self.datapoints += 1
            if second - self._pruned > 30:
                self._prune(second)

    def _prune(self, now: int) -> None:
        self._pruned = now
        oldest_second, oldest_minute = now - SECOND_HISTORY, now // 60 - MINUTE_HISTORY
        for series in self._series.values():
            for second in [s for s in series.seconds if s < oldest_second]:
                del series.seconds[second]
            for minute in [m for m in series.minutes if m < oldest_minute]:
                del series.minutes[minute]

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._series)

    def unit(self, key: Key) -> str | None:
        series = self._series.get(key)
        return series.unit if series else None

    def minute_datums(self) -> list[MinuteDatum]:
        with self._lock:
            return [d for s in self._series.values() for d in s.minutes.values()]

    def _matching(self, namespace: str, name: str, dimensions: dict[str, str] | None) -> list[_Series]:
        dims = tuple(sorted((dimensions or {}).items()))
        if dimensions is None:
            return [s for (ns, n, _), s in self._series.items() if ns == namespace and n == name]
        series = self._series.get((namespace, name, dims))
        return [series] if series else []

    def timeline(self, namespace: str, name: str, stat: str, dimensions: dict[str, str] | None = None,
                 seconds: int = 300, step: int = 5, now: float | None = None) -> list[float | None]:
        """One value per `step` seconds over the last `seconds` (oldest first); None where there was no data.
        ``dimensions=None`` aggregates every series of the metric."""
        end = int(time.time() if now is None else now) // step * step
        start = end - seconds + step
        with self._lock:
            matching = self._matching(namespace, name, dimensions)
            out = []
            for t in range(start, end + step, step):
                buckets = [b for s in matching for sec in range(t, t + step) if (b := s.seconds.get(sec))]
                out.append(statistic(stat, buckets))
        return out

    def window(self, namespace: str, name: str, stat: str, dimensions: dict[str, str] | None, start: float,
               end: float) -> float | None:
        """The statistic over [start, end) from the per-second buckets (per-minute ones beyond their history)."""
        with self._lock:
            matching = self._matching(namespace, name, dimensions)
            buckets = [b for s in matching for sec, b in s.seconds.items() if start <= sec < end]
            if not buckets and end - start >= 60:
                buckets = [d.bucket for s in matching for m, d in s.minutes.items() if start <= m * 60 < end]
        return statistic(stat, buckets)

    def latest(self, namespace: str, name: str, dimensions: dict[str, str] | None = None,
               within: int = 15) -> float | None:
        """The most recent value of a gauge (the last second that has one, within `within` seconds)."""
        now = int(time.time())
        with self._lock:
            for sec in range(now, now - within, -1):
                values = [b.sum / b.count for s in self._matching(namespace, name, dimensions)
                          if (b := s.seconds.get(sec)) and b.count]
                if values:
                    return sum(values)
        return None


# --------------------------------------------------------------------------- moto's CloudWatch reads the store
_active: MetricStore | None = None


def serve_to_cloudwatch(store: MetricStore | None) -> None:
    """Make `store` what moto's CloudWatch serves beside its own data (None: nothing)."""
    global _active
    _active = store


def active_store() -> MetricStore | None:
    """The store moto's CloudWatch serves now (None: observability is off)."""
    return _active


class StoreMetricProvider(CloudWatchMetricProvider):
    """moto's extension point for metrics a service publishes itself: moto's CloudWatch adds what
    ``get_cloudwatch_metrics`` returns to every metric query."""

    @staticmethod
    def get_cloudwatch_metrics(account_id: str, region: str) -> list[MinuteDatum]:
        store = _active
        return store.minute_datums() if store is not None else []


# --------------------------------------------------------------------------- Embedded Metric Format
def emf_datapoints(line: str) -> list[tuple[str, str, float, str | None, dict[str, str], float]]:
    """The datapoints of one log line in CloudWatch's embedded metric format:
    (namespace, metric, value, unit, dimensions, epoch seconds); [] for any other line."""
    if not line.startswith("{") or '"_aws"' not in line:
        return []
    try:
        document = json.loads(line)
        meta = document["_aws"]
        at = float(meta.get("Timestamp", time.time() * 1000)) / 1000
        directives = meta["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    points = []
    for directive in directives if isinstance(directives, list) else ():
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str):
            continue
        dimension_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics") or ():
            name = metric.get("Name") if isinstance(metric, dict) else None
            raw = document.get(name) if name else None
            values = raw if isinstance(raw, list) else [raw]
            for dimension_set in dimension_sets:
                dims = {d: str(document[d]) for d in dimension_set if d in document}
                if len(dims) != len(dimension_set):
                    continue  # a dimension without a value: CloudWatch rejects the metric
                for value in values:
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        points.append((namespace, name, float(value), metric.get("Unit"), dims, at))
    return points


def prometheus(store: MetricStore, window: int = 60) -> str:
    """The store's series in Prometheus' text exposition format: per series, the last minute's sum, count,
    average and p99 as gauges named ``<namespace>_<metric>`` (``AWS/Lambda`` -> ``aws_lambda``)."""
    now = int(time.time())
    by_name: dict[str, list[str]] = {}
    for namespace, name, dims in sorted(store.keys()):
        metric = _prom_name(f"{namespace}_{name}")
        labels = ",".join(f'{_prom_name(k)}="{_prom_value(v)}"' for k, v in dims)
        lines = by_name.setdefault(metric, [f"# HELP {metric} CloudWatch {namespace} {name}, last {window} s "
                                            f"({store.unit((namespace, name, dims)) or 'None'})",
                                            f"# TYPE {metric} gauge"])
        for stat, suffix in (("Sum", "sum"), ("SampleCount", "count"), ("Average", "avg"), ("p99", "p99")):
            value = store.window(namespace, name, stat, dict(dims), now - window, now + 1)
            if value is not None:
                label_set = "{" + ",".join(x for x in (labels, f'stat="{suffix}"') if x) + "}"
                lines.append(f"{metric}{label_set} {value:g}")
    return "".join(line + "\n" for lines in by_name.values() for line in lines)


def _prom_name(text: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in text)
    out = "".join("_" + c.lower() if c.isupper() and i and out[i - 1].islower() else c.lower()
                  for i, c in enumerate(out))
    return out if not out[:1].isdigit() else "_" + out


def _prom_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

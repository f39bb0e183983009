"""The local cloud's CloudWatch and X-Ray: what the functions emit, and what AWS records about its own services.

    metrics.py   one MetricStore: EMF lines and service metrics in, moto's CloudWatch API / dashboard / Prometheus out
    services.py  the Lambda, Step Functions, SQS and WebSocket API observers (the hooks' other end)
    xray.py      the X-Ray daemon's UDP receiver into moto's X-Ray backend; segment ids, headers, waterfalls
    alarms.py    CloudWatch alarm evaluation with SNS notifications
    dashboard.py the JSON the dashboard page draws

LocalCloud starts one Observability before it deploys (the functions must know the daemon's address) and attaches
it to the deployed stack. ``NOTIFYX_OBSERVABILITY=off`` leaves it all out (the telemetry cost bench compares).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from infra import account
from infra.observability.metrics import MetricStore, prometheus, serve_to_cloudwatch
from infra.observability.services import LambdaObserver, Sampler, SqsObserver, StatesObserver, WebSocketObserver
from infra.observability.xray import DaemonReceiver, PendingSegments, TraceStore

logger = logging.getLogger("notifyx.observability")

ACCOUNT_ID = account.ACCOUNT_ID

#: the running Observability (the moto patches' hooks reach it here), or None
active: Observability | None = None


def enabled() -> bool:
    """Whether the local cloud records metrics and traces (NOTIFYX_OBSERVABILITY, default on)."""
    return os.environ.get("NOTIFYX_OBSERVABILITY", "on").lower() not in ("0", "off", "false", "no")


class Observability:
    """Metrics, traces and alarms of one LocalCloud."""

    def __init__(self, region: str, account: str = ACCOUNT_ID) -> None:
        self.region, self.account = region, account
        self.store = MetricStore()
        self.traces = TraceStore(region, account)
        self.sampler = Sampler(os.environ.get("NOTIFYX_XRAY_SAMPLING", "default"))
        self.daemon: DaemonReceiver | None = None
        self.segments: PendingSegments | None = None
        self.lambdas: LambdaObserver | None = None
        self.states: StatesObserver | None = None
        self.sqs: SqsObserver | None = None
        self.websockets: list[WebSocketObserver] = []
        self.alarms: Any = None
        self.stack: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, runtime: Any) -> Observability:
        """Before deploy: the X-Ray daemon, what Lambda tells every function, the runtime's observer."""
        global active
        from infra.runtime import trace_header

        self.daemon = DaemonReceiver(self.traces)
        self.segments = PendingSegments(self.traces)
        host, port = self.daemon.address.rsplit(":", 1)
        # what Lambda sets in a traced function's environment
        runtime.extra_environment.update({"AWS_XRAY_DAEMON_ADDRESS": self.daemon.address,
                                          "_AWS_XRAY_DAEMON_ADDRESS": host, "_AWS_XRAY_DAEMON_PORT": port,
                                          "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"})
        self.lambdas = LambdaObserver(self.store, self.segments, {}, self.sampler, trace_header, self.region,
                                      self.account)
        self.states = StatesObserver(self.store, self.segments, set(), self.sampler)
        runtime.observer = self.lambdas
        serve_to_cloudwatch(self.store)
        active = self
        return self

    def attach(self, stack: Any, aws_endpoint: str) -> None:
        """After deploy: which functions and state machines trace, the SQS metrics, alarm evaluation."""
        import boto3

        from infra.observability.alarms import AlarmEvaluator

        from infra import moto_patches

        self.stack = stack
        moto_patches.apply_observability()  # after the state directory's own patches (infra/persistence.py)
        for function in stack.of_type("AWS::Lambda::Function"):
            mode = (function.properties.get("TracingConfig") or {}).get("Mode", "PassThrough")
            self.lambdas.tracing[function.physical_id] = mode
        for machine in stack.of_type("AWS::StepFunctions::StateMachine"):
            tracing = machine.properties.get("TracingConfiguration") or {}
            if str(tracing.get("Enabled", "")).lower() == "true":
                self.states.traced.add(machine.physical_id)
        self.sqs = SqsObserver(self.store, self.region, self.account)
        sns = boto3.client("sns", endpoint_url=aws_endpoint, region_name=self.region,
                           **account.KEYS)
        self.alarms = AlarmEvaluator(self.store, sns, self.region, self.account).start()

    def websocket(self, api_id: str, stage: str) -> WebSocketObserver:
        """The AWS/ApiGateway observer of one WebSocket API stage (LocalCloud wraps its integrations)."""
        observer = WebSocketObserver(self.store, api_id, stage)
        self.websockets.append(observer)
        return observer

    def documents(self) -> dict[str, Any]:
        """What the local cloud serves beside the web client: path -> () -> (content type, body)."""
        from infra.observability.dashboard import dashboard_data

        return {"/metrics": lambda query: ("text/plain; version=0.0.4; charset=utf-8",
                                           prometheus(self.store).encode()),
                "/dashboard/data.json": lambda query: ("application/json", dashboard_data(self, query))}

    def stop(self) -> None:
        global active
        from infra import moto_patches

        if active is self:
            active = None
        moto_patches.revert_observability()
        serve_to_cloudwatch(None)
        for closeable in (self.alarms, self.sqs, *self.websockets, self.segments, self.daemon):
            if closeable is not None:
                try:
                    closeable.close()
                except Exception:  # noqa: BLE001 - keep stopping the rest
                    logger.exception("stopping %s failed", type(closeable).__name__)

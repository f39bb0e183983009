"""Asynchronous invocation (InvocationType=Event, SNS): Lambda's event queue, retries, dead-letter queue, destinations.

As Lambda documents it (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html):
- the caller gets 202 at once; the event runs in the background;
- a function error (or timeout) is retried `MaximumRetryAttempts` times (default 2), after a wait between
  retries (AWS: about 1 minute, then 2; here RETRY_DELAYS, seconds, so that a test can watch it);
- a throttled event is retried until it is `MaximumEventAgeInSeconds` old (default 6 hours);
- an event that still fails goes to the function's on-failure destination (an invocation record) and to its
  DeadLetterConfig target (the event itself, with RequestID/ErrorCode/ErrorMessage attributes); a success goes
  to the on-success destination. Destinations may be an SQS queue, an SNS topic, a function or an event bus.

The retry settings and destinations are read from the emulator's EventInvokeConfig of the function at each event,
so `put_function_event_invoke_config` at run time applies as on AWS.

With durable state (infra/persistence.py), an accepted event is kept until it has finished: a restart, after a
crash or a clean stop, queues the unfinished ones again (`resume`), as Lambda's queue keeps an event until it has
run; one that was running then runs again.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from infra import account, ids
from infra.runtime import FunctionError, LambdaRuntime, ResourceNotFound, Throttled

logger = logging.getLogger("notifyx.async")

#: seconds before the first and the second retry of a failed event (AWS waits about 60 s, then 120 s)
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0)
#: seconds between attempts of a throttled event
THROTTLE_DELAY = 1.0
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21600.0

_clients: dict[tuple[str, str | None], Any] = {}
_clients_lock = threading.Lock()


def invoke_async(runtime: LambdaRuntime, name: str, event: Any, tenant_id: str | None = None) -> str:
    """Queue `event` for function `name` (raises ResourceNotFound at once); returns the request id. `tenant_id`: the
    tenant each attempt runs for (a tenant-isolated function's).

    A durable function's event starts a durable execution at once instead (LambdaRuntime.start_durable, which names
    it in the Ran being recorded): the execution service invokes the handler, and retries it, itself."""
    spec = runtime.spec(name)
    request_id = ids.request_id()
    if spec.durable is not None:
        runtime.start_durable(spec, event, tenant_id)
        return request_id
    queued_at = time.time()
    from infra import persistence

    store = persistence.store()
    if store is not None:
        store.lambda_event(request_id, (spec.name, json.dumps(event), queued_at)
                           + ((tenant_id,) if tenant_id is not None else ()))
    _start(runtime, spec.name, event, request_id, queued_at, store, tenant_id)
    return request_id


def resume(runtime: LambdaRuntime, events: dict[str, tuple[str, str, float]]) -> int:
    """Queue again the events an earlier run accepted and had not finished (durable state keeps them, as Lambda's
    queue keeps an event until it has run): same request id, their age counted from when they were first queued.
    One that was running at a crash runs again (Lambda, too, may run an event more than once). How many.
    The durable state still holds them: they are not journaled again."""
    from infra import persistence

    store = persistence.store()
    resumed = 0
    for request_id, (name, event, queued_at, *tenant) in events.items():
        try:
            runtime.spec(name)
        except ResourceNotFound:
            logger.warning("async event %s for %s dropped: the template no longer has the function", request_id, name)
            if store is not None:  # finished: not dropped again at every start
                store.lambda_event(request_id, None)
            continue
        _start(runtime, name, json.loads(event), request_id, queued_at, store, tenant[0] if tenant else None)
        resumed += 1
    return resumed


def _start(runtime: LambdaRuntime, name: str, event: Any, request_id: str, queued_at: float, store: Any,
           tenant_id: str | None = None) -> None:
    threading.Thread(target=_run, args=(runtime, name, event, request_id, queued_at, store, tenant_id),
                     name=f"lambda-async-{name}", daemon=True).start()


def _run(runtime: LambdaRuntime, name: str, event: Any, request_id: str, queued_at: float, store: Any,
         tenant_id: str | None = None) -> None:
    try:
        _deliver(runtime, name, event, request_id, time.monotonic() - max(0.0, time.time() - queued_at), tenant_id)
    finally:
        # finished, unless the local cloud stopped under it: then the state kept it for the next start
        if store is not None and not runtime.closed:
            store.lambda_event(request_id, None)


def event_invoke_config(name: str, account_id: str = account.ACCOUNT_ID,
                        region: str = account.REGION) -> dict[str, Any]:
    """The function's EventInvokeConfig in the embedded emulator ({} when none, or with another endpoint)."""
    try:
        from moto.awslambda.models import lambda_backends

        configs = lambda_backends[account_id][region].get_function(name).event_invoke_config
    except Exception:  # noqa: BLE001 - no emulator in this process (LocalStack), or no such function any more
        return {}
    return dict(configs[0].config) if configs else {}


def _deliver(runtime: LambdaRuntime, name: str, event: Any, request_id: str, queued: float,
             tenant_id: str | None = None) -> None:
    """Run the event until it succeeds, fails for good, or is too old (`queued`: time.monotonic() of its queueing)."""
    config = event_invoke_config(name, region=runtime.region)
    retries = int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES))
    max_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
    attempts = 0
    if time.monotonic() - queued > max_age:  # it waited out a stop of the local cloud
        _failed(runtime, name, event, request_id, attempts, "EventAgeExceeded", None, config)
        return
    while True:
        try:
            attempts += 1
            result = runtime.invoke(name, event, request_id, tenant_id=tenant_id)  # Lambda keeps it for each retry
        except Throttled:
            attempts -= 1           # a throttled event was not run
            if time.monotonic() - queued + THROTTLE_DELAY > max_age:
                _failed(runtime, name, event, request_id, attempts, "EventAgeExceeded", None, config)
                return
            time.sleep(THROTTLE_DELAY)
            continue
        except ResourceNotFound as exc:
            if not runtime.closed:
                logger.warning("async event for %s dropped: %s", name, exc)
            return
        except FunctionError as exc:
            if attempts > retries:
                _failed(runtime, name, event, request_id, attempts, "RetriesExhausted", exc, config)
                return
            delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)] if RETRY_DELAYS else 0.0
            if time.monotonic() - queued + delay > max_age:
                _failed(runtime, name, event, request_id, attempts, "EventAgeExceeded", exc, config)
                return
            logger.info("async invoke of %s failed (%s: %s); retry %d in %.1f s", name, exc.error_type, exc,
                        attempts, delay)
            time.sleep(delay)
            continue
        destination = ((config.get("DestinationConfig") or {}).get("OnSuccess") or {}).get("Destination")
        if destination:
            _send_record(runtime, destination, _record(runtime, name, event, request_id, attempts, "Success", result))
        return


def _failed(runtime: LambdaRuntime, name: str, event: Any, request_id: str, attempts: int, condition: str,
            error: FunctionError | None, config: dict[str, Any]) -> None:
    logger.warning("async event %s for %s failed after %d attempt(s) (%s)", request_id, name, attempts, condition)
    destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination:
        _send_record(runtime, destination, _record(runtime, name, event, request_id, attempts, condition, error))
    dead_letter = runtime.spec(name).dead_letter_arn
    if dead_letter:
        attributes = {"RequestID": request_id, "ErrorCode": "200",
                      "ErrorMessage": error.error_message if error else condition}
        send(runtime, dead_letter, json.dumps(event), attributes)


def _record(runtime: LambdaRuntime, name: str, event: Any, request_id: str, attempts: int, condition: str,
            outcome: Any) -> dict[str, Any]:
    """Lambda's invocation record, what a destination receives."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if isinstance(outcome, FunctionError):
        response["functionError"] = "Unhandled"
        outcome = outcome.payload()
    now = datetime.now(UTC)
    return {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {"requestId": request_id, "functionArn": f"{runtime.spec(name).arn}:$LATEST",
                           "condition": condition, "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": response,
        "responsePayload": outcome,
    }


def _client(runtime: LambdaRuntime, service: str) -> Any:
    key = (service, runtime.aws_endpoint)
    with _clients_lock:
        if key not in _clients:
            import boto3

            _clients[key] = boto3.client(service, endpoint_url=runtime.aws_endpoint, region_name=runtime.region,
                                         **account.KEYS)
        return _clients[key]


def _send_record(runtime: LambdaRuntime, destination: str, record: dict[str, Any]) -> None:
    if destination.startswith("arn:aws:events:"):
        kind = "Success" if record["requestContext"]["condition"] == "Success" else "Failure"
        _guarded(destination, lambda: _client(runtime, "events").put_events(Entries=[{
            "Source": "lambda", "DetailType": f"Lambda Function Invocation Result - {kind}",
            "Detail": json.dumps(record), "EventBusName": destination,
            "Resources": [record["requestContext"]["functionArn"]]}]))
    else:
        send(runtime, destination, json.dumps(record), {})


def send(runtime: LambdaRuntime, arn: str, body: str, attributes: dict[str, str] | None = None) -> None:
    """Deliver `body` to an SQS queue, SNS topic or function by ARN (a failure is logged, as Lambda drops what it
    cannot deliver): a dead-letter queue, a destination, a stream mapping's on-failure destination."""
    attributes = attributes or {}
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service == "sqs":
        def send() -> None:
            sqs = _client(runtime, "sqs")
            _, _, _, region, account, queue = arn.split(":", 5)
            url = sqs.get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
                k: {"DataType": "Number" if k == "ErrorCode" else "String", "StringValue": v}
                for k, v in attributes.items()})
        _guarded(arn, send)
    elif service == "sns":
        _guarded(arn, lambda: _client(runtime, "sns").publish(TopicArn=arn, Message=body, MessageAttributes={
            k: {"DataType": "Number" if k == "ErrorCode" else "String", "StringValue": v}
            for k, v in attributes.items()}))
    elif service == "lambda":
        _guarded(arn, lambda: invoke_async(runtime, arn, json.loads(body)))
    else:
        logger.warning("async destination %s is not supported locally; the record is dropped", arn)


def _guarded(arn: str, send: Any) -> None:
    try:
        send()
    except Exception:  # noqa: BLE001 - Lambda drops what it cannot deliver; say so
        logger.exception("could not deliver to %s", arn)

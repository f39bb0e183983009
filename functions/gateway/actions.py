"""Every WebSocket action route ($default too): parse the frame, run the action, answer with a reply frame.

A new action is one function here and one entry in ACTIONS (plus its route in template.yaml).

The reply is the route's response, except on the routes in POSTED_REPLY_ROUTES: those have no route response in
template.yaml (one-way), and their reply is posted to the caller's connection through @connections. That lets a
publish be answered as soon as it commits, before its fan-out (which can take seconds for a big topic, and waits
for the topic's earlier seqs' fan-outs). On AWS a two-way route sends a frame for every integration response, an
empty one when the function returns no body, so "answer early" needs the route to be one-way.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import services, telemetry, validation
from core.errors import AppError, invalid, unavailable
from gateway import PERSIST, delivery, frames, models, owners, publishing

log = logging.getLogger(__name__)

#: the action routes of template.yaml without a route response (tests/unit/test_gateway.py checks the template)
POSTED_REPLY_ROUTES = frozenset({"publish"})


@dataclass(frozen=True)
class Caller:
    id: str
    email: str
    request_context: dict


@dataclass(frozen=True)
class ThenFollows:
    """An action's reply data and the work that comes after it: on a one-way route the reply goes out first."""
    data: dict
    then: Callable[[], None]


def subscribe(caller: Caller, frame: dict) -> dict:
    return services.call(PERSIST, "subscribe", user_id=caller.id, email=caller.email,
                         topic=validation.topic_name(frame.get("topic")))


def unsubscribe(caller: Caller, frame: dict) -> dict:
    return services.call(PERSIST, "unsubscribe", user_id=caller.id, topic=validation.topic_name(frame.get("topic")))


def history(caller: Caller, frame: dict) -> dict:
    after_seq = validation.optional_int(frame, "after_seq")
    limit = validation.optional_int(frame, "limit", minimum=1, maximum=validation.MAX_HISTORY_LIMIT)
    return services.call(PERSIST, "history", user_id=caller.id, topic=validation.topic_name(frame.get("topic")),
                         after_seq=after_seq, limit=limit)


def ack(caller: Caller, frame: dict) -> dict:
    return services.call(PERSIST, "ack", user_id=caller.id,
                         notification_id=validation.identifier(frame.get("notification_id"), "notification_id"))


def publish(caller: Caller, frame: dict) -> dict | ThenFollows:
    """Owner only; through the two-phase commit; the reply, then (committed) the push to the live recipients.
    PublishLatency is the publish up to its reply's data: the fan-out is DeliveryLatency's."""
    with telemetry.timed("PublishLatency"):
        result, notification, user_ids = _publish(caller, frame)
    if notification is None:
        return result
    return ThenFollows(result, lambda: _fan_out(caller, result, notification, user_ids))


def _publish(caller: Caller, frame: dict) -> tuple[dict, dict | None, list[str] | None]:
    """The reply's data, the committed notification to fan out (None: nothing new was published), and its
    recipients' user ids when its commit found them with their turn there (publishing.recipients_now)."""
    tx = publishing.transaction(caller.id, caller.email, frame)
    if owners.owner_of(tx["topic"]) != caller.id:
        raise AppError("forbidden", f"only the owner of {tx['topic']!r} can publish to it")
    telemetry.correlate(txid=tx["txid"])
    with telemetry.step("two-phase commit"), telemetry.timed("TwoPhaseCommitDuration"):
        output, started = publishing.run(tx)
    try:
        result = publishing.outcome(output)
    except AppError:
        if started:
            reason = output.get("reason") or "aborted"
            telemetry.count("PublishesAborted")
            telemetry.count_by("PublishesAbortedByReason", "reason", str(reason))
            telemetry.logger.info("publish aborted", extra={"topic": tx["topic"], "reason": reason})
        raise
    if not started:  # a repeated idempotency key gets the first outcome and publishes nothing new
        return result, None, None
    telemetry.count("PublishesCommitted")
    telemetry.logger.info("publish committed", extra={"topic": tx["topic"], "seq": result["seq"]})
    return result, output["notification"], publishing.recipients_now(output, tx)


def _fan_out(caller: Caller, result: dict, notification: dict, user_ids: list[str] | None) -> None:
    try:
        with telemetry.step("fan-out"):
            delivery.fan_out(caller.request_context, notification, user_ids)
    except Exception:  # committed all the same: the recipients have it in their inboxes and catch up by history
        log.exception("fan-out of %s seq %s failed after its commit", notification.get("topic"), result["seq"])
        telemetry.count("FanOutsFailed")


def send_email(caller: Caller, frame: dict) -> dict:
    return services.call("mail", "send", user_id=caller.id, email=caller.email,
                         to=frame.get("to"), subject=frame.get("subject"), message=frame.get("message"))


def generate_avatar(caller: Caller, frame: dict) -> dict:
    return services.call("avatar", "generate", name=frame.get("name"), size=frame.get("size"),
                         type=frame.get("type"))


def ping(caller: Caller, frame: dict) -> dict:
    return {"pong": True}


ACTIONS = {"subscribe": subscribe, "unsubscribe": unsubscribe, "publish": publish, "history": history,
           "ack": ack, "send_email": send_email, "generate_avatar": generate_avatar, "ping": ping}


def _frame(event: dict) -> dict:
    body = event.get("body")
    frame = validation.json_document(body, "the frame") if isinstance(body, str) else None
    if not isinstance(frame, dict):
        raise invalid("a frame is a JSON object with an action")
    return frame


@telemetry.instrumented
def handler(event: dict, context: Any) -> dict:
    """A client frame in, its reply frame (or an error frame) out, on the same socket.

    Every frame gets an answer; the answer never quotes more than a few characters of the frame.
    """
    request_context = event.get("requestContext") or {}
    try:
        frame = _frame(event)
    except AppError as e:
        return _answer(request_context, frames.failure(None, None, e))
    action = frame.get("action")
    try:
        frame_id = validation.frame_id(frame.get("id"))
    except AppError as e:
        return _answer(request_context, frames.failure(None, None, e))
    if not isinstance(action, str) or action not in ACTIONS:
        return _answer(request_context, frames.failure(None, frame_id, invalid(
            f"unknown action {validation.quote(action)}; one of " + ", ".join(sorted(ACTIONS)))))
    authorizer = request_context.get("authorizer") or {}
    telemetry.correlate(connection_id=request_context.get("connectionId"), action=action)
    try:
        validation.text_only(frame)
        if not authorizer.get("user_id"):
            raise AppError("unauthorized", "the connection has no authorized user")
        session = authorizer.get("session")
        if session and action != "ping" and not models.session_open(
                authorizer["user_id"], request_context.get("connectionId", ""), session):
            raise AppError("unauthorized", "this connection's session has ended (logged out)")
        caller = Caller(authorizer["user_id"], authorizer.get("email", ""), request_context)
        data = ACTIONS[action](caller, frame)
    except AppError as e:
        return _answer(request_context, frames.failure(action, frame_id, e))
    except Exception:  # the socket stays usable whatever happens to one frame; the detail goes to the log
        log.exception("action %s failed", action)
        return _answer(request_context, frames.failure(action, frame_id, unavailable()))
    if isinstance(data, ThenFollows):
        return _answer(request_context, frames.reply(action, frame_id, data.data), data.then)
    return _answer(request_context, frames.reply(action, frame_id, data))


def _answer(request_context: dict, frame: dict, then: Callable[[], None] | None = None) -> dict:
    """Answer with `frame`, then do `then`: on a two-way route the frame is the route response (sent when the
    function returns, so after `then`); on a one-way route it is posted to the caller's connection first."""
    if request_context.get("routeKey") in POSTED_REPLY_ROUTES:
        delivery.to_caller(request_context, json.dumps(frame).encode())
        response = {"statusCode": 200}
    else:
        response = frames.response(frame)
    if then is not None:
        then()
    return response

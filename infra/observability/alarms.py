"""CloudWatch alarm evaluation, which moto leaves out (it stores alarms; their state never changes by itself).

Every few seconds each metric alarm in moto's CloudWatch is evaluated the way CloudWatch documents it: the
statistic (or extended statistic, e.g. p99) of its metric, or of its metric-math expression, over each of the
last EvaluationPeriods periods; ALARM when DatapointsToAlarm of them breach the threshold, OK when they do
not, missing data treated as TreatMissingData says. A state change is written with moto's SetAlarmState (so
``describe-alarms`` shows it, with the reason) and, with ActionsEnabled, published to the SNS
topics of AlarmActions / OKActions / InsufficientDataActions in CloudWatch's notification format.

Locally the period being filled counts as a datapoint (CloudWatch waits for it to end): a local cloud answers
in seconds rather than minutes.

Composite alarms (an AlarmRule over other alarms' states: `ALARM("a") AND NOT OK(b)`, TRUE, FALSE, parentheses)
are evaluated after the metric alarms of each round, as CloudWatch documents the rule: ALARM while it is true, OK
while it is false; a composite alarm may name another one. Their notifications carry the rule and the children
whose state made it true (`TriggeringChildren`).
"""
from __future__ import annotations

import ast
import functools
import json
import logging
import operator
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("notifyx.alarms")

_COMPARE = {
    "GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le,
}
_SYMBOL = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=", "LessThanThreshold": "<",
           "LessThanOrEqualToThreshold": "<="}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate_expression(expression: str, values: dict[str, float | None]) -> float | None:
    """A metric-math expression of + - * /, parentheses, numbers and query ids; None when an operand has no
    data or a division is by zero. Anything else raises ValueError (reported as unsupported)."""

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(f"unknown id {node.id!r}")
            return values[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = walk(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Div) and right == 0:
                return None
            return _OPS[type(node.op)](left, right)
        raise ValueError("only + - * / of numbers and ids are evaluated locally")

    return walk(ast.parse(expression, mode="eval"))


# --------------------------------------------------------------------------- composite alarms' rules
_RULE_TOKEN = re.compile(r"\s*(?:(?P<word>ALARM|OK|INSUFFICIENT_DATA|TRUE|FALSE|AND|OR|NOT)\b|(?P<open>\()"
                         r"|(?P<close>\))|(?P<quoted>\"(?:[^\"\\]|\\.)*\")|(?P<name>[^\s()\"]+))")
_STATE_FUNCTIONS = ("ALARM", "OK", "INSUFFICIENT_DATA")


@functools.lru_cache(maxsize=256)  # a rule is read again every round: its tree (tuples) is kept
def parse_rule(rule: str) -> Any:
    """An AlarmRule as a tree: ("state", STATE, alarm name or ARN), ("const", bool), ("not", x), ("and"|"or", a, b).
    ValueError names what is not a rule the local cloud evaluates (AT_LEAST, say)."""
    tokens, at = [], 0
    while at < len(rule):
        if rule[at:].strip() == "":
            break
        match = _RULE_TOKEN.match(rule, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot read the rule at {rule[at:at + 20]!r}")
        kind = match.lastgroup
        text = match.group(kind)
        tokens.append((kind, json.loads(text) if kind == "quoted" else text))
        at = match.end()
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take(kind: str | None = None, word: str | None = None) -> tuple[str, str]:
        nonlocal position
        token = peek()
        if token is None or (kind and token[0] != kind) or (word and token[1] != word):
            raise ValueError(f"the rule {rule!r} is not one CloudWatch's grammar allows here: {token and token[1]!r}")
        position += 1
        return token

    def chain(word: str, operand: Callable[[], Any]) -> Any:
        """operand (word operand)*, left to right: OR of ANDs of NOTs."""
        tree = operand()
        while peek() == ("word", word):
            take()
            tree = (word.lower(), tree, operand())
        return tree

    def disjunction() -> Any:
        return chain("OR", conjunction)

    def conjunction() -> Any:
        return chain("AND", negation)

    def negation() -> Any:
        if peek() == ("word", "NOT"):
            take()
            return ("not", negation())
        return primary()

    def primary() -> Any:
        token = peek()
        if token == ("open", "("):
            take()
            tree = disjunction()
            take("close")
            return tree
        if token is not None and token[0] == "word" and token[1] in ("TRUE", "FALSE"):
            take()
            return ("const", token[1] == "TRUE")
        if token is not None and token[0] == "word" and token[1] in _STATE_FUNCTIONS:
            take()
            take("open")
            name = peek()
            if name is None or name[0] not in ("quoted", "name"):
                raise ValueError(f"{token[1]}() names no alarm in {rule!r}")
            take()
            take("close")
            return ("state", token[1], name[1])
        if token is not None and token[0] == "name":
            raise ValueError(f"{token[1]!r} is not a function the local cloud evaluates (ALARM, OK, INSUFFICIENT_DATA)")
        raise ValueError(f"the rule {rule!r} ends too soon or has {token and token[1]!r} out of place")

    tree = disjunction()
    if peek() is not None:
        raise ValueError(f"the rule {rule!r} has {peek()[1]!r} out of place")
    return tree


def rule_holds(tree: Any, state_of: Callable[[str], str | None], children: list[str] | None = None) -> bool:
    """Whether the rule is true with the alarms' states (by name or ARN; None: no such alarm, which is in no state);
    `children` gets the alarms whose state function was true."""
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "state":
        held = state_of(tree[2]) == tree[1]
        if held and children is not None:
            children.append(tree[2])
        return held
    if kind == "not":
        return not rule_holds(tree[1], state_of)
    left = rule_holds(tree[1], state_of, children)
    if kind == "and":
        return left and rule_holds(tree[2], state_of, children)
    return rule_holds(tree[2], state_of, children) or left


class AlarmEvaluator:
    """Evaluates moto's metric alarms against the MetricStore every `interval` seconds."""

    def __init__(self, store: Any, sns_client: Any, region: str, account: str, interval: float = 5.0) -> None:
        self.store = store
        self.sns = sns_client
        self.region, self.account = region, account
        self.interval = interval
        self.evaluations = 0
        self._stopped = threading.Event()
        self._round = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cloudwatch-alarms", daemon=True)

    def start(self) -> AlarmEvaluator:
        self._thread.start()
        return self

    def _backend(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.account][self.region]

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.evaluate_all()
            except Exception:  # noqa: BLE001 - keep evaluating; the next round may succeed
                logger.exception("alarm evaluation failed")

    def evaluate_all(self, now: float | None = None) -> None:
        """One round over every alarm: the metric alarms, then the composite ones (again while one of them changes:
        a composite alarm may name another)."""
        with self._round:  # the evaluator's thread and a caller of evaluate_all never notify one change twice
            self._evaluate_round(time.time() if now is None else now)

    def _evaluate_round(self, now: float) -> None:
        every = list(self._backend().alarms.values())
        composites = [alarm for alarm in every if getattr(alarm, "rule", None)]
        for alarm in every:
            if not getattr(alarm, "rule", None):
                self.evaluate(alarm, now)
        by_key = {key: alarm for alarm in every for key in (alarm.name, alarm.alarm_arn)}
        for _ in range(len(composites)):
            if not [alarm for alarm in composites if self.evaluate_composite(alarm, now, by_key)]:
                break
        self.evaluations += 1

    def evaluate_composite(self, alarm: Any, now: float, by_key: dict[str, Any]) -> bool:
        """Evaluate one composite alarm's rule against the others' states (`by_key`: every alarm by name and by
        ARN); whether its state changed."""
        try:
            tree = parse_rule(alarm.rule)
        except ValueError as exc:
            return self._set(alarm, "INSUFFICIENT_DATA", f"not evaluated locally: {exc}", now, [])
        children: list[str] = []
        found = lambda key: by_key[key].state_value if key in by_key else None  # noqa: E731
        held = rule_holds(tree, found, children)
        state = "ALARM" if held else "OK"
        triggering = [by_key[key] for key in dict.fromkeys(children) if key in by_key] if held else []
        reason = (f"{', '.join(f'{child.alarm_arn} is in {child.state_value}' for child in triggering)}: the rule "
                  f"is true" if held and triggering else f"AlarmRule is {'true' if held else 'false'}: {alarm.rule}")
        return self._set(alarm, state, reason, now, [], triggering)

    # ------------------------------------------------------------------ one alarm
    def _metric_value(self, stat_source: dict[str, Any], start: float, end: float) -> float | None:
        dims = {d["Name"] if isinstance(d, dict) else d.name: d["Value"] if isinstance(d, dict) else d.value
                for d in stat_source.get("dimensions") or []}
        return self.store.window(stat_source["namespace"], stat_source["name"], stat_source["stat"], dims,
                                 start, end)

    def _datapoint(self, alarm: Any, start: float, end: float) -> float | None:
        if alarm.metric_data_queries:
            values: dict[str, float | None] = {}
            answer = None
            for query in alarm.metric_data_queries:
                stat = query.metric_stat
                if stat is not None:
                    metric = stat.metric
                    values[query.id] = self._metric_value({
                        "namespace": metric.namespace, "name": metric.metric_name, "stat": stat.stat,
                        "dimensions": metric.dimensions}, start, end)
            for query in alarm.metric_data_queries:
                if query.expression:
                    values[query.id] = evaluate_expression(query.expression, values)
                if query.return_data in (None, True, "true", "True"):
                    answer = values.get(query.id)
            return answer
        return self._metric_value({"namespace": alarm.namespace, "name": alarm.metric_name,
                                   "stat": alarm.extended_statistic or alarm.statistic,
                                   "dimensions": alarm.dimensions}, start, end)

    def evaluate(self, alarm: Any, now: float) -> str:
        period = int(alarm.period or next((int(q.metric_stat.period) for q in alarm.metric_data_queries
                                           if q.metric_stat is not None and q.metric_stat.period), 60))
        periods = int(alarm.evaluation_periods or 1)
        needed = int(alarm.datapoints_to_alarm or periods)
        compare = _COMPARE.get(alarm.comparison_operator)
        if compare is None:
            return alarm.state_value  # anomaly-detection bands are not evaluated locally
        current = int(now) // period * period
        try:
            points = [self._datapoint(alarm, current - i * period, current - i * period + period)
                      for i in range(periods)]
        except ValueError as exc:
            self._set(alarm, "INSUFFICIENT_DATA", f"not evaluated locally: {exc}", now, [])
            return alarm.state_value
        present = [p for p in points if p is not None]
        breaching = sum(1 for p in present if compare(p, float(alarm.threshold)))
        missing = periods - len(present)
        treat = alarm.treat_missing_data or "missing"
        if treat == "breaching":
            breaching += missing
        if breaching >= needed:
            state = "ALARM"
        elif not present and treat in ("missing", "ignore"):
            state = alarm.state_value if treat == "ignore" and alarm.state_value != "INSUFFICIENT_DATA" \
                else "INSUFFICIENT_DATA"
        else:
            state = "OK"
        symbol = _SYMBOL[alarm.comparison_operator]
        shown = ", ".join(f"{p:g}" for p in present) or "no datapoints"
        reason = (f"Threshold Crossed: {len(present)} datapoint(s) [{shown}] were "
                  f"{'' if state == 'ALARM' else 'not '}{symbol} the threshold ({float(alarm.threshold):g}) "
                  f"in the last {periods} period(s) of {period} s.")
        self._set(alarm, state, reason, now, present)
        return state

    def _set(self, alarm: Any, state: str, reason: str, now: float, points: list[float],
             triggering: list[Any] | None = None) -> bool:
        """Write a changed state and notify its actions; whether the state changed."""
        if state == alarm.state_value:
            return False
        old = alarm.state_value
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "+0000")
        if getattr(alarm, "rule", None):
            data = json.dumps({"triggeringAlarms": [{"arn": child.alarm_arn, "state": {"value": child.state_value}}
                                                    for child in triggering or ()]})
        else:
            data = json.dumps({"version": "1.0", "queryDate": stamp, "recentDatapoints": points,
                               "threshold": float(alarm.threshold) if alarm.threshold is not None else None})
        self._backend().set_alarm_state(alarm.name, reason, data, state)
        logger.info("alarm %s: %s -> %s", alarm.name, old, state)
        if not alarm.actions_enabled:
            return True
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                   "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[state] or []
        notice = {"AlarmName": alarm.name, "AlarmDescription": alarm.description, "AWSAccountId": self.account,
                  "NewStateValue": state, "NewStateReason": reason, "StateChangeTime": stamp, "Region": self.region,
                  "AlarmArn": alarm.alarm_arn, "OldStateValue": old}
        if getattr(alarm, "rule", None):
            notice.update(AlarmRule=alarm.rule, TriggeringChildren=[
                {"Arn": child.alarm_arn, "State": {"Value": child.state_value, "Timestamp": stamp}}
                for child in triggering or ()])
        else:
            notice["Trigger"] = {"MetricName": alarm.metric_name, "Namespace": alarm.namespace,
                                 "Statistic": alarm.statistic, "ExtendedStatistic": alarm.extended_statistic,
                                 "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods,
                                 "ComparisonOperator": alarm.comparison_operator, "Threshold": alarm.threshold}
        message = json.dumps(notice)
        for action in actions:
            if ":sns:" not in action:
                continue  # Auto Scaling, EC2 and Systems Manager actions have nothing to act on locally
            try:
                self.sns.publish(TopicArn=action, Subject=f'{state}: "{alarm.name}" in {self.region}'[:100],
                                 Message=message)
            except Exception as exc:  # noqa: BLE001 - a missing topic must not stop evaluation
                logger.warning("alarm %s: notifying %s failed: %s", alarm.name, action, exc)
        return True

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(5)

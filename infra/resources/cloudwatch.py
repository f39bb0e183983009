"""CloudWatch alarms, metric and composite (evaluated by the local cloud: infra/observability/alarms.py), and
dashboards."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import TAGS_IGNORED, Resource, creates, json_text, template_text

if TYPE_CHECKING:
    from infra.deploy import Deployer

_ALARM_ARGS = ("ActionsEnabled", "AlarmActions", "AlarmDescription", "ComparisonOperator", "DatapointsToAlarm",
               "Dimensions", "EvaluateLowSampleCountPercentile", "EvaluationPeriods", "ExtendedStatistic",
               "InsufficientDataActions", "MetricName", "Metrics", "Namespace", "OKActions", "Period", "Statistic",
               "Threshold", "ThresholdMetricId", "TreatMissingData", "Unit")
_INTEGERS = ("DatapointsToAlarm", "EvaluationPeriods", "Period")


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    query = dict(query)
    if "ReturnData" in query:
        query["ReturnData"] = str(query["ReturnData"]).lower() == "true"
    for key in ("Period",):
        if key in query:
            query[key] = int(query[key])
    if "MetricStat" in query:
        stat = dict(query["MetricStat"])
        stat["Period"] = int(stat["Period"])
        query["MetricStat"] = stat
    return query


@creates("AWS::CloudWatch::Alarm", handles=("AlarmName", *_ALARM_ARGS),
         ignores={**TAGS_IGNORED},
         unsupported={"ActionConfiguration": "no alarm mute rules locally",
                      "EvaluationCriteria": "PromQL alarms are not evaluated locally",
                      "EvaluationInterval": "alarms are evaluated every 5 s locally",
                      "EvaluationWindow": "PromQL alarms are not evaluated locally",
                      "WarmUpConfiguration": "no warm-up locally"})
def _alarm(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "AlarmName", limit=255)
    args: dict[str, Any] = {"AlarmName": name, **{k: props[k] for k in _ALARM_ARGS if k in props}}
    for key in _INTEGERS:
        if key in args:
            args[key] = int(args[key])
    if "Threshold" in args:
        args["Threshold"] = float(args["Threshold"])
    if "ActionsEnabled" in args:
        args["ActionsEnabled"] = str(args["ActionsEnabled"]).lower() == "true"
    if "Metrics" in args:
        args["Metrics"] = [_metric_query(q) for q in args["Metrics"]]
    cloudwatch = d.client("cloudwatch")
    cloudwatch.put_metric_alarm(**args)
    arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    return Resource(lid, "AWS::CloudWatch::Alarm", name, {"Arn": arn})


def _composite_check(d: Deployer, lid: str, props: dict) -> list[tuple[str, str]]:
    from infra.observability.alarms import parse_rule

    rule = props.get("AlarmRule")
    if not isinstance(rule, str) and not (isinstance(rule, dict) and "Fn::Sub" in rule):
        return []  # made by another intrinsic function: read when evaluated
    try:
        parse_rule(template_text(rule))
    except ValueError as exc:
        return [("AlarmRule", str(exc))]
    return []


@creates("AWS::CloudWatch::CompositeAlarm",
         handles=("AlarmName", "AlarmRule", "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions",
                  "InsufficientDataActions"),
         ignores={**TAGS_IGNORED},
         unsupported={"ActionsSuppressor": "actions are not suppressed locally",
                      "ActionsSuppressorWaitPeriod": "actions are not suppressed locally",
                      "ActionsSuppressorExtensionPeriod": "actions are not suppressed locally"},
         check=_composite_check)
def _composite_alarm(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "AlarmName", limit=255)
    args: dict[str, Any] = {"AlarmName": name, "AlarmRule": props["AlarmRule"]}
    for key in ("AlarmDescription", "AlarmActions", "OKActions", "InsufficientDataActions"):
        if key in props:
            args[key] = props[key]
    if "ActionsEnabled" in props:
        args["ActionsEnabled"] = str(props["ActionsEnabled"]).lower() == "true"
    cloudwatch = d.client("cloudwatch")
    cloudwatch.put_composite_alarm(**args)
    arn = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]["AlarmArn"]
    return Resource(lid, "AWS::CloudWatch::CompositeAlarm", name, {"Arn": arn})


@creates("AWS::CloudWatch::Dashboard", handles=("DashboardBody", "DashboardName"), ignores={**TAGS_IGNORED})
def _dashboard(d: Deployer, lid: str, props: dict) -> Resource:
    name = d.name_for(lid, props, "DashboardName", limit=255)
    body = props["DashboardBody"]
    d.client("cloudwatch").put_dashboard(DashboardName=name,
                                         DashboardBody=json_text(body))
    return Resource(lid, "AWS::CloudWatch::Dashboard", name, {})

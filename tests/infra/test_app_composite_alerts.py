"""Parity: composite alarms (fixtures/apps/composite_alerts). Before, AWS::CloudWatch::CompositeAlarm was refused
(and moto answers PutCompositeAlarm with NotImplementedError); now it is made in moto's CloudWatch
(patch cloudwatch-composite-alarms) and the local cloud's alarm evaluation (infra/observability/alarms.py) keeps it
ALARM while its rule holds, OK otherwise, and notifies its actions as CloudWatch does.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.deploy import Deployer, UnsupportedTemplate
from infra.observability import alarms
from infra.template import expand

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "composite_alerts" / "template.yaml"


def states(cloudwatch) -> dict[str, str]:
    found = cloudwatch.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return {a["AlarmName"]: a["StateValue"] for a in found["MetricAlarms"] + found["CompositeAlarms"]}


def notices(cloud) -> list[dict]:
    sqs = cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=cloud.stack.outputs["InboxUrl"], MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=cloud.stack.outputs["InboxUrl"], ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def test_a_composite_alarm_follows_its_rule_and_notifies(cloud):
    cloudwatch = cloud.client("cloudwatch")
    errors, latency = (cloud.stack.resources[name].physical_id for name in ("ErrorsAlarm", "LatencyAlarm"))
    degraded = cloud.stack.resources["ServiceDegraded"].physical_id
    [described] = cloudwatch.describe_alarms(AlarmNames=[degraded], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    latency_arn = cloudwatch.describe_alarms(AlarmNames=[latency])["MetricAlarms"][0]["AlarmArn"]
    assert described["AlarmRule"] == f'ALARM("{errors}") AND ALARM({latency_arn})'
    assert described["AlarmArn"] == cloud.stack.outputs["Degraded"]
    evaluator = cloud.observability.alarms

    cloudwatch.set_alarm_state(AlarmName=errors, StateValue="ALARM", StateReason="errors")
    evaluator.evaluate_all()
    assert {k: v for k, v in states(cloudwatch).items() if k in (degraded, "shop-pager")} == {
        degraded: "OK", "shop-pager": "OK"}

    cloudwatch.set_alarm_state(AlarmName=latency, StateValue="ALARM", StateReason="slow")
    evaluator.evaluate_all()
    assert states(cloudwatch)[degraded] == "ALARM"
    assert states(cloudwatch)["shop-pager"] == "ALARM"  # a composite alarm naming another one, in the same round
    [notice] = notices(cloud)
    assert (notice["AlarmName"], notice["OldStateValue"], notice["NewStateValue"]) == (degraded, "OK", "ALARM")
    assert notice["AlarmRule"] == described["AlarmRule"]
    assert sorted(child["Arn"].rsplit(":", 1)[1] for child in notice["TriggeringChildren"]) == sorted([errors, latency])

    cloudwatch.set_alarm_state(AlarmName=latency, StateValue="OK", StateReason="fast again")
    evaluator.evaluate_all()
    assert (states(cloudwatch)[degraded], states(cloudwatch)["shop-pager"]) == ("OK", "OK")
    [notice] = notices(cloud)
    assert (notice["NewStateValue"], notice["TriggeringChildren"]) == ("OK", [])


def test_rules_the_local_cloud_cannot_evaluate_are_reported(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.read_text().replace("!Sub 'ALARM(${ServiceDegraded}) OR FALSE'",
                                                     "!Sub 'AT_LEAST(1, ALARM, (${ServiceDegraded}))'"))
    with pytest.raises(UnsupportedTemplate) as refused:
        Deployer(expand(template), "http://127.0.0.1:1", embedded=False).deploy()
    assert [(p.logical_id, p.unsupported) for p in refused.value.problems] == [("Pager", "AlarmRule")]


@pytest.mark.parametrize(("rule", "held"), [
    ('ALARM("a") AND NOT OK(b)', True), ("ALARM(a) AND OK(b)", False), ("NOT (ALARM(a) OR ALARM(b)) OR TRUE", True),
    ("INSUFFICIENT_DATA(c) AND ALARM(a)", True), ("ALARM(gone)", False), ("FALSE OR ALARM(a) AND ALARM(b)", False),
    ("ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:a)", True),
])
def test_rules_as_cloudwatch_documents_them(rule, held):
    states = {"a": "ALARM", "b": "INSUFFICIENT_DATA", "c": "INSUFFICIENT_DATA",
              "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a": "ALARM"}
    assert alarms.rule_holds(alarms.parse_rule(rule), states.get) is held


@pytest.mark.parametrize("rule", ["", "ALARM(a) AND", "ALARM()", "ALARM(a", "ALARM a", "MAYBE(a)", "ALARM(a) b"])
def test_what_is_not_a_rule_is_refused(rule):
    with pytest.raises(ValueError):
        alarms.parse_rule(rule)

"""Pipes that reshape what they carry (fixtures/apps/pipe_templates): an enrichment's and a target's InputTemplate
(JSON paths into the event, an SQS body read as the JSON it holds, Pipes' reserved variables; a JSON template and a
text one), and an Express workflow as the enrichment. Before 7 December a pipe with an InputTemplate, or enriched by
a state machine, was refused at deploy (aws-samples/serverless-patterns' eventbridge-pipes-ddb-stream-lambda-sfn-
enrich has both)."""
from __future__ import annotations

import json
import time
from pathlib import Path

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "pipe_templates" / "template.yaml"


def received(cloud, logical_id: str, timeout: float = 15.0) -> list[str]:
    sqs = cloud.client("sqs")
    queue = cloud.physical_id(logical_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            return [m["Body"] for m in messages]
    return []


def test_an_order_is_cut_down_enriched_by_an_express_workflow_and_reshaped_for_its_target(cloud):
    cloud.client("sqs").send_message(QueueUrl=cloud.physical_id("Orders"),
                                     MessageBody=json.dumps({"order": {"id": "o-1", "qty": 3, "secret": "x"}}))
    [digest] = received(cloud, "Digests")
    orders_arn = cloud.client("sqs").get_queue_attributes(
        QueueUrl=cloud.physical_id("Orders"), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(digest) == {"first": "o-1", "count": 3, "priced": True, "note": "from order-digest",
                                  "missing": None, "source": orders_arn}


def test_a_text_template_makes_a_plain_text_message(cloud):
    cloud.client("sqs").send_message(QueueUrl=cloud.physical_id("Notes"),
                                     MessageBody=json.dumps({"order": {"id": "o-2", "qty": 1}}))
    assert received(cloud, "NoteLines") == ['order o-2 of note-text: {"id": "o-2", "qty": 1}']


def test_a_pipe_created_while_the_cloud_runs_applies_its_templates_too(cloud):
    """CreatePipe at run time (the pipes-* patches) reads the pipe's EnrichmentParameters as the deploy does (the
    run-time path left them out, so its enrichment's InputTemplate was ignored)."""
    sqs = cloud.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=cloud.physical_id("Notes"), AttributeNames=["QueueArn"])["Attributes"]
    target = sqs.get_queue_attributes(QueueUrl=cloud.physical_id("Digests"), AttributeNames=["QueueArn"])["Attributes"]
    pipes = cloud.client("pipes")
    pipes.stop_pipe(Name="note-text")  # the template's pipe on the same queue stands aside
    cloud.event_sources.settled(10)
    pipes.create_pipe(Name="late-digest", RoleArn="arn:aws:iam::123456789012:role/pipes", Source=arn["QueueArn"],
                      Enrichment=cloud.physical_id("Pricing"),
                      EnrichmentParameters={"InputTemplate": '{"id": <$.body.order.id>}'},
                      Target=target["QueueArn"],
                      TargetParameters={"InputTemplate": '{"late": <$.items[0].id>, "priced": <$.priced>}'})
    cloud.event_sources.settled(10)
    try:
        sqs.send_message(QueueUrl=cloud.physical_id("Notes"), MessageBody=json.dumps({"order": {"id": "o-9"}}))
        assert [json.loads(body) for body in received(cloud, "Digests")] == [{"late": "o-9", "priced": True}]
    finally:
        pipes.delete_pipe(Name="late-digest")
        pipes.start_pipe(Name="note-text")
        cloud.event_sources.settled(10)

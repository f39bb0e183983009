"""A long-polling ReceiveMessage under the emulator's receive (moto_patches "sqs-receive-one-at-a-time"): a message
sent during the wait ends it with that message; when the local cloud stops (release_long_polls) every wait ends at
once with no messages, instead of each event source poller waiting out its receive; after, they wait again."""
from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto import mock_aws

from infra import moto_patches


@pytest.fixture
def sqs():
    patch = moto_patches.patch("sqs-receive-one-at-a-time")
    patch.apply()
    try:
        with mock_aws():
            yield boto3.client("sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    finally:
        patch.revert()


def receive_in_background(sqs, url: str) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def receive() -> None:
        began = time.monotonic()
        answer["messages"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
        answer["seconds"] = time.monotonic() - began

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    return thread, answer


def test_a_message_sent_during_a_long_poll_ends_it(sqs):
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    thread, answer = receive_in_background(sqs, url)
    time.sleep(0.3)
    assert thread.is_alive()  # waiting: the queue is empty
    sqs.send_message(QueueUrl=url, MessageBody="job")
    thread.join(10)
    assert [m["Body"] for m in answer["messages"]] == ["job"]


def test_released_long_polls_end_at_once_with_no_messages_and_wait_again_after(sqs):
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("first", "second")]
    receivers = [receive_in_background(sqs, url) for url in urls]
    time.sleep(0.3)
    assert all(thread.is_alive() for thread, _ in receivers)
    with moto_patches.long_polls_released():
        for thread, answer in receivers:
            thread.join(10)
            assert not thread.is_alive()
            assert answer["messages"] == [] and answer["seconds"] < 10  # not the 20 s wait
        # a receive meanwhile still takes what is there, and waits for nothing more
        sqs.send_message(QueueUrl=urls[0], MessageBody="late")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=urls[0], WaitTimeSeconds=20)["Messages"]] == ["late"]
        began = time.monotonic()
        assert sqs.receive_message(QueueUrl=urls[1], WaitTimeSeconds=20).get("Messages", []) == []
        assert time.monotonic() - began < 10
    thread, answer = receive_in_background(sqs, urls[1])  # released no more: a long poll waits again
    time.sleep(0.3)
    assert thread.is_alive()
    sqs.send_message(QueueUrl=urls[1], MessageBody="next")
    thread.join(10)
    assert [m["Body"] for m in answer["messages"]] == ["next"]

"""The dashboard in Chromium under real traffic: live charts of the publish path, Lambda per function, the mail
queue against MaximumConcurrency, alarms, recent traces and the waterfall of one publish.

The README's picture (docs/dashboard.png) is taken here on request: NOTIFYX_DASHBOARD_SCREENSHOT=docs/dashboard.png;
a plain run writes .notifyx/dashboard.png."""
from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
from playwright.sync_api import expect
from web_page import LIVE_TIMEOUT_MS, ROOT

from client.sdk import ApiError, Client, HttpApi

SCREENSHOT = ROOT / os.environ.get("NOTIFYX_DASHBOARD_SCREENSHOT", ".notifyx/dashboard.png")
PASSWORD = "dashboard password"

pytestmark = pytest.mark.timeout(240)


def person(endpoints: dict) -> tuple[str, Client]:
    email = f"dash-{uuid.uuid4().hex[:10]}@example.com"
    http = HttpApi(endpoints["http_api"])
    http.register(email, PASSWORD)
    return email, Client(endpoints, http.login(email, PASSWORD)["token"])


def traffic(endpoints: dict, seconds: float, stop: threading.Event) -> None:
    """Three publishers on their own topics with a subscriber each, a rolled-back publish now and then, mail and
    avatars: what the charts draw."""
    crowd = []
    for _ in range(3):
        (_, owner), (reader_email, reader) = person(endpoints), person(endpoints)
        topic = f"dash-{uuid.uuid4().hex[:8]}"
        owner_conn, reader_conn = owner.connect(), reader.connect()
        owner_conn.request("subscribe", topic=topic)
        reader_conn.request("subscribe", topic=topic)
        crowd.append((owner_conn, reader_conn, topic, reader_email))

    def publish(owner_conn, reader_conn, topic, reader_email) -> None:
        n, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline and not stop.is_set():
            n += 1
            try:
                if n % 9 == 0:  # persist votes NO for a stranger: the publish rolls back
                    owner_conn.request("publish", topic=topic, message="to a stranger", to=["nobody@example.com"])
                else:
                    owner_conn.request("publish", topic=topic, message=f"dashboard {n}")
                if n % 5 == 0:
                    owner_conn.request("send_email", to=reader_email, subject="dashboard", message=f"mail {n}")
                if n % 7 == 0:
                    owner_conn.request("generate_avatar", name=f"{topic}-{n}", size=48)
            except ApiError:
                pass
            reader_conn.drain(0.01)

    threads = [threading.Thread(target=publish, args=c, daemon=True) for c in crowd]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for owner_conn, reader_conn, _, _ in crowd:
        owner_conn.close()
        reader_conn.close()


def test_dashboard_draws_the_publish_path_lambda_alarms_and_a_publish_waterfall(cloud, browser):
    stop = threading.Event()
    load = threading.Thread(target=traffic, args=(cloud.endpoints, 15.0, stop), daemon=True)
    load.start()
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    try:
        page = context.new_page()
        page.goto(cloud.endpoints["dashboard"])
        expect(page.locator("body")).to_have_attribute("data-metrics", "loaded", timeout=LIVE_TIMEOUT_MS)
        # the charts fill as the traffic flows (the page polls every 3 s)
        for chart in ("chart-publishes", "chart-abort-rate", "chart-latency", "chart-deliveries", "chart-connections",
                      "chart-mail-queue", "chart-mail", "chart-dlq", "chart-lambda-invocations", "chart-lambda-errors",
                      "chart-lambda-duration", "chart-lambda-concurrency"):
            page.wait_for_function(
                "id => Number(document.querySelector(`[data-testid=\"${id}\"]`).dataset.points || 0) > 0",
                arg=chart, timeout=60_000)
            assert page.locator(f'[data-testid="{chart}"] canvas').count() == 1, chart
        expect(page.locator('[data-testid="alarm-row"]')).to_have_count(5)
        assert page.locator('[data-testid="alarm-row"][data-state="OK"]').count() >= 1
        expect(page.locator('[data-testid="function-row"]').first).to_be_visible()
        assert page.locator('[data-testid="function-row"]').count() >= 6
        # a publish's waterfall: the gateway, the state machine, its coordinator steps and both participants
        waterfall = page.locator('[data-testid="waterfall"]')
        for name in ("GatewayActions", "PublishStateMachine", "Begin", "PersistParticipant",
                     "CounterParticipant", "## fan-out"):
            expect(waterfall).to_contain_text(name, timeout=60_000)
        assert page.locator('[data-testid="trace-row"]').count() >= 2
        expect(page.locator('[data-testid="stat-publish-rate"]')).not_to_have_text("–")
        stop.set()  # every chart has drawn the traffic: no need to wait out its 15 s
        load.join(40)
        page.wait_for_timeout(3500)  # the last poll after the traffic
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        stop.set()
        context.close()
        load.join(30)


def test_metrics_endpoint_speaks_prometheus(cloud):
    import urllib.request

    cloud.invoke("AuthVerify", {"op": "health"})  # at least one Lambda invocation to report
    with urllib.request.urlopen(cloud.endpoints["client"] + "metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    assert "# TYPE aws_lambda_invocations gauge" in text
    assert 'aws_lambda_invocations{function_name="' in text

"""The dashboard shows each circuit breaker's shared state (from GET /health, read from the BreakersTable)."""
from __future__ import annotations

import time

import boto3
from playwright.sync_api import expect

from web_page import LIVE_TIMEOUT_MS


def test_the_dashboard_shows_an_open_breaker(cloud, browser):
    dynamodb = boto3.client("dynamodb", endpoint_url=cloud.aws_endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    table = cloud.physical_id("BreakersTable")
    name = "avatar/dashboard-probe"  # an instance no caller uses: an operator's view of a breaker's item
    dynamodb.put_item(TableName=table, Item={"name": {"S": name}, "state": {"S": "open"},
                                             "opened_at": {"N": str(time.time())}, "failures": {"N": "5"},
                                             "window_start": {"N": str(time.time())}})
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(cloud.endpoints["dashboard"])
        row = page.locator(f'[data-testid="breaker-row"][data-breaker="{name}"]')
        expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(row.locator('[data-testid="breaker-state"]')).to_have_text("open")
        expect(row).to_contain_text("opened at")
    finally:
        context.close()
        dynamodb.delete_item(TableName=table, Key={"name": {"S": name}})

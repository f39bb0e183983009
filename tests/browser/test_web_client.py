"""The web page, as two people use it at once: the owner of a topic and a subscriber."""
from __future__ import annotations

import os
import re

import boto3
import pytest
from playwright.sync_api import expect

from web_page import LIVE_TIMEOUT_MS, PASSWORD, ROOT, NotifyxPage, unique

pytestmark = pytest.mark.browser

# the README's picture is refreshed on request (NOTIFYX_SCREENSHOT=docs/screenshot.png); a plain run must not
# leave the checkout modified
SCREENSHOT = ROOT / os.environ.get("NOTIFYX_SCREENSHOT", ".notifyx/screenshot.png")


def owner_and_reader(open_user, topic: str) -> tuple[NotifyxPage, NotifyxPage]:
    owner = open_user("owner")
    owner.subscribe(topic)
    reader = open_user("reader")
    reader.subscribe(topic)
    return owner, reader


def test_subscriber_sees_owners_notification_live_and_marks_it_seen(open_user):
    topic = unique("news")
    owner, reader = owner_and_reader(open_user, topic)
    reader.page.evaluate("window.sameDocument = true")   # gone if the page reloads

    owner.publish("Deploy finished")

    expect(reader.notification("Deploy finished")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert reader.page.evaluate("window.sameDocument === true")  # arrived over the socket, not by reloading
    expect(reader.unread_badge(topic)).to_have_text("1")
    expect(reader.notification("Deploy finished")).to_have_attribute("data-status", "unread")

    reader.notification("Deploy finished").locator('[data-testid="mark-seen"]').click()

    expect(reader.unread_badge(topic)).to_have_count(0)
    expect(reader.notification("Deploy finished")).to_have_attribute("data-status", "seen")
    expect(reader.testid("error-banner")).to_be_hidden()


def test_owner_sees_ownership_and_non_owner_sees_publishing_is_not_allowed(open_user):
    topic = unique("owned")
    owner, reader = owner_and_reader(open_user, topic)

    expect(owner.topic_item(topic).locator('[data-testid="owner-badge"]')).to_be_visible()
    expect(owner.testid("publish-form")).to_be_visible()
    expect(owner.testid("publish-forbidden")).to_be_hidden()

    expect(reader.topic_item(topic).locator('[data-testid="owner-badge"]')).to_have_count(0)
    expect(reader.testid("publish-form")).to_be_hidden()
    expect(reader.testid("publish-forbidden")).to_be_visible()
    expect(reader.testid("publish-forbidden")).to_contain_text(f"Only the owner ({owner.email}) can publish")
    expect(reader.testid("topic-owner")).to_contain_text(owner.email)


def test_publish_to_chosen_subscribers_reaches_only_them(open_user):
    topic = unique("direct")
    owner, chosen = owner_and_reader(open_user, topic)
    other = open_user("other")
    other.subscribe(topic)

    owner.publish("just for you", to=[chosen.email])
    owner.publish("for everyone")

    expect(chosen.notification("just for you")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(other.notification("for everyone")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(other.notification("just for you")).to_have_count(0)


def test_history_and_read_state_survive_a_reload(open_user):
    topic = unique("history")
    owner, reader = owner_and_reader(open_user, topic)
    for text in ("first", "second", "third"):
        owner.publish(text)
    expect(reader.unread_badge(topic)).to_have_text("3", timeout=LIVE_TIMEOUT_MS)
    reader.notification("second").locator('[data-testid="mark-seen"]').click()
    expect(reader.unread_badge(topic)).to_have_text("2")

    reader.page.reload()
    reader.wait_online()

    expect(reader.testid("notification")).to_have_count(3, timeout=LIVE_TIMEOUT_MS)
    # newest first on screen, in seq order
    expect(reader.testid("notification-message")).to_have_text(["third", "second", "first"])
    expect(reader.notification("second")).to_have_attribute("data-status", "seen")
    expect(reader.notification("first")).to_have_attribute("data-status", "unread")
    expect(reader.unread_badge(topic)).to_have_text("2")


def drop_connections(cloud, user: NotifyxPage) -> int:
    """Close the user's sockets from the server side, as API Gateway's @connections DELETE does."""
    user_id = user.page.evaluate("JSON.parse(localStorage.getItem('notifyx.session')).user.id")
    item = cloud.client("dynamodb").get_item(TableName=cloud.physical_id("ConnectionsTable"),
                                             Key={"user_id": {"S": user_id}}).get("Item", {})
    connection_ids = item.get("connections", {}).get("SS", [])
    data_plane = cloud.endpoints["websocket_api"].replace("ws://", "http://", 1)
    management = boto3.client("apigatewaymanagementapi", endpoint_url=data_plane, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    for connection_id in connection_ids:
        management.delete_connection(ConnectionId=connection_id)
    return len(connection_ids)


def test_notifications_missed_while_offline_arrive_after_reconnecting(cloud, open_user):
    topic = unique("catchup")
    owner, reader = owner_and_reader(open_user, topic)
    owner.publish("before the drop")
    expect(reader.notification("before the drop")).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    # offline: the page cannot reconnect; then the server drops the socket it still has
    reader.page.context.set_offline(True)
    assert drop_connections(cloud, reader) == 1
    expect(reader.testid("connection-state")).to_have_attribute("data-state", "offline", timeout=LIVE_TIMEOUT_MS)
    expect(reader.testid("connection-state")).to_contain_text("retrying in")
    owner.publish("while you were away")
    reader.page.wait_for_timeout(1000)
    expect(reader.notification("while you were away")).to_have_count(0)

    reader.page.context.set_offline(False)
    reader.wait_online()

    expect(reader.notification("while you were away")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(reader.testid("notification")).to_have_count(2)
    expect(reader.unread_badge(topic)).to_have_text("2")


def test_unsubscribed_topic_leaves_the_list(open_user):
    topic = unique("leave")
    user = open_user("leaver")
    user.subscribe(topic)
    user.topic_item(topic).locator('[data-testid="unsubscribe-button"]').click()
    expect(user.topic_item(topic)).to_have_count(0)
    user.page.reload()
    user.wait_online()
    expect(user.topic_item(topic)).to_have_count(0)


def test_generated_avatar_is_shown(open_user):
    user = open_user("face")
    user.testid("avatar-name").fill("octocat")
    user.testid("avatar-type").select_option("github")
    user.testid("avatar-generate").click()
    image = user.testid("avatar-image")
    expect(image).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    user.page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0", arg=image.element_handle(), timeout=LIVE_TIMEOUT_MS
    )
    assert image.evaluate("el => el.naturalWidth") > 0
    header = user.testid("user-avatar")
    user.page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=header.element_handle())


def test_sent_email_shows_its_delivery_status(open_user):
    user = open_user("mailer")
    user.testid("mail-to").fill("friend@example.com")
    user.testid("mail-subject").fill("hello")
    user.testid("mail-message").fill("see you at the release party")
    user.testid("mail-send").click()
    status = user.testid("mail-status").first
    expect(status).to_have_text(re.compile(r"^(queued|sent)"), timeout=LIVE_TIMEOUT_MS)
    expect(status).to_have_attribute("data-status", "sent", timeout=30_000)


def test_contract_errors_are_shown_as_readable_messages(open_user):
    user = open_user("taken")
    user.testid("logout-button").click()
    expect(user.testid("auth-view")).to_be_visible()

    user.testid("auth-email").fill(user.email)
    user.testid("auth-password").fill(PASSWORD)
    user.testid("register-button").click()
    expect(user.testid("error-banner")).to_be_visible()
    expect(user.testid("error-text")).to_contain_text("Register: That already exists")

    user.testid("auth-password").fill("not-the-password")
    user.testid("login-button").click()
    expect(user.testid("error-text")).to_contain_text("Log in: Not authorized")
    expect(user.testid("main-view")).to_be_hidden()


def test_refused_publish_shows_the_servers_reason(open_user):
    owner = open_user("strict")
    topic = unique("private")
    owner.subscribe(topic)
    owner.testid("publish-message").fill("for a stranger")
    owner.testid("publish-to").fill("stranger@example.com")
    owner.testid("publish-button").click()

    expect(owner.testid("publish-status")).to_have_text("not published", timeout=LIVE_TIMEOUT_MS)
    # refused before or during the two-phase commit: either way the reason is on screen
    reason = re.compile(rf"^Publish to {topic}: (That request was not valid|The publish was rolled back)\b.+")
    expect(owner.testid("error-text")).to_have_text(reason)
    expect(owner.testid("notification")).to_have_count(0)

    owner.testid("publish-to").fill("")
    owner.testid("publish-message").fill("x" * (64 * 1024 + 1))
    owner.testid("publish-button").click()
    expect(owner.testid("error-text")).to_contain_text(f"Publish to {topic}: That is too large")
    owner.wait_online()   # refused before sending: the socket is not closed for an oversized frame


def test_logout_ends_the_session_after_a_reload_too(open_user):
    user = open_user("bye")
    user.testid("logout-button").click()
    expect(user.testid("auth-view")).to_be_visible()
    expect(user.testid("auth-message")).to_have_text("You are logged out.")
    user.page.reload()
    expect(user.testid("auth-view")).to_be_visible()
    expect(user.testid("main-view")).to_be_hidden()


def test_page_fits_a_phone_screen(open_user):
    user = open_user("phone", viewport={"width": 375, "height": 740})
    user.subscribe(unique("a-rather-long-topic-name-for-a-phone"))
    user.publish("fits on a small screen without scrolling sideways")
    expect(user.notification("fits on a small screen without scrolling sideways")).to_be_visible()
    overflow = user.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0


def test_dashboard_shows_each_services_health(cloud, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(cloud.endpoints["dashboard"])
        rows = page.locator('[data-testid="service-row"]')
        expect(rows.first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        assert rows.count() >= 3
        expect(page.locator('[data-testid="overall-status"]')).to_have_text("ok")
        expect(page.locator('[data-testid="service-status"]').first).to_have_text("ok")
    finally:
        context.close()


def test_main_screen(open_user):
    """Everything on one screen at once; the picture in the README is this screen."""
    topic = unique("releases")
    owner, reader = owner_and_reader(open_user, topic)
    other = unique("alerts")
    owner.subscribe(other)
    owner.publish("Disk usage above 80% on db-1")
    owner.open_topic(topic)
    owner.publish("v1.4 is out: faster fan-out")
    owner.publish("v1.4.1 hotfix shipped")
    expect(owner.notification("v1.4.1 hotfix shipped")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    owner.notification("v1.4 is out: faster fan-out").locator('[data-testid="mark-seen"]').click()
    owner.testid("mail-to").fill(reader.email)
    owner.testid("mail-message").fill("v1.4 is out")
    owner.testid("mail-send").click()
    owner.testid("avatar-generate").click()
    image = owner.testid("avatar-image")
    owner.page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())
    expect(owner.unread_badge(other)).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    expect(owner.testid("mail-status").first).to_have_attribute("data-status", "sent", timeout=30_000)
    expect(owner.testid("connection-state")).to_have_text("online")
    expect(owner.testid("error-banner")).to_be_hidden()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    owner.page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

"""The web page as a user sees it (data-testid selectors), and the names the browser tests share."""
from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"
# live delivery goes through a two-phase commit on a shared 2-core machine: generous, but bounded
LIVE_TIMEOUT_MS = 20_000


def unique(prefix: str) -> str:
    """A name no other test uses: tests share one cloud."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class NotifyxPage:
    """The web page as a user sees it, through its data-testid selectors."""

    def __init__(self, page: Page, email: str):
        self.page = page
        self.email = email

    def testid(self, name: str, **attributes: str):
        selector = f'[data-testid="{name}"]' + "".join(f'[data-{k}="{v}"]' for k, v in attributes.items())
        return self.page.locator(selector)

    def register(self) -> None:
        self.testid("auth-email").fill(self.email)
        self.testid("auth-password").fill(PASSWORD)
        self.testid("register-button").click()
        expect(self.testid("user-email")).to_have_text(self.email)
        expect(self.testid("connection-state")).to_have_attribute("data-state", "online", timeout=LIVE_TIMEOUT_MS)

    def subscribe(self, topic: str) -> None:
        self.testid("subscribe-input").fill(topic)
        self.testid("subscribe-button").click()
        expect(self.topic_item(topic)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(self.testid("topic-title")).to_have_text(topic)

    def topic_item(self, topic: str):
        return self.testid("topic-item", topic=topic)

    def unread_badge(self, topic: str):
        return self.topic_item(topic).locator('[data-testid="unread-badge"]')

    def open_topic(self, topic: str) -> None:
        self.topic_item(topic).locator('[data-testid="topic-open"]').click()
        expect(self.testid("topic-title")).to_have_text(topic)

    def publish(self, message: str, to: list[str] | None = None) -> None:
        self.testid("publish-message").fill(message)
        self.testid("publish-to").fill(", ".join(to or []))
        self.testid("publish-button").click()
        expect(self.testid("publish-status")).to_contain_text("published #", timeout=LIVE_TIMEOUT_MS)

    def notification(self, message: str):
        return self.testid("notification").filter(has=self.page.get_by_text(message, exact=True))

    def wait_online(self) -> None:
        expect(self.testid("connection-state")).to_have_attribute("data-state", "online", timeout=LIVE_TIMEOUT_MS)

"""The `notifyx` user commands, run as a person would (subprocesses with their own working directory), and
the listener's catch-up after a dropped connection."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from client.listener import Listener
from client.sdk import Client

pytestmark = pytest.mark.timeout(120)

NOTIFYX = Path(sys.executable).parent / "notifyx"
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"


class Person:
    """Someone using the CLI from their own directory (their own .notifyx/session.json)."""

    def __init__(self, home: Path, endpoints: Path, name: str):
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.endpoints = endpoints
        self.email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
        # the checkout's code, whatever the virtualenv's editable install maps
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "NOTIFYX_PASSWORD": PASSWORD, "PYTHONPATH": pythonpath}
        self.env.pop("NOTIFYX_ENDPOINTS", None)

    def command(self, *args: str) -> list[str]:
        return [str(NOTIFYX), args[0], "--endpoints", str(self.endpoints), *args[1:]]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(*args), cwd=self.home, env=self.env, capture_output=True, text=True,
                              timeout=60)
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.home, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def signed_up(self) -> Person:
        self.run("register", self.email)
        self.run("login", self.email)
        return self


@pytest.fixture
def people(endpoints_file, tmp_path):
    if not NOTIFYX.exists():
        pytest.fail(f"the notifyx console script is not installed at {NOTIFYX}")
    return lambda name: Person(tmp_path / name, endpoints_file, name)


def _topic() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_register_and_login_store_a_private_session(people):
    alice = people("alice")

    registered = alice.run("register", alice.email)
    logged_in = alice.run("login", alice.email)

    assert alice.email in registered.stdout
    assert alice.email in logged_in.stdout
    session_file = alice.home / ".notifyx" / "session.json"
    session = json.loads(session_file.read_text())
    assert session["token"] and session["user"]["email"] == alice.email
    assert session_file.stat().st_mode & 0o077 == 0


def test_publish_listen_and_inbox(people):
    alice, bob = people("alice").signed_up(), people("bob").signed_up()
    topic = _topic()
    alice.run("subscribe", topic)
    listener = bob.start("listen", topic, "--json", "--count", "2", "--timeout", "60")
    try:
        ready = listener.stderr.readline()
        assert "listening to" in ready, ready

        published = [json.loads(alice.run("publish", topic, f"hello {i}", "--json").stdout) for i in range(2)]

        out, err = listener.communicate(timeout=60)
    finally:
        listener.kill()
    assert listener.returncode == 0, err
    received = [json.loads(line) for line in out.splitlines()]
    assert [n["id"] for n in received] == [p["notification_id"] for p in published]
    assert [n["message"] for n in received] == ["hello 0", "hello 1"]

    inbox = json.loads(bob.run("inbox", "--topic", topic, "--json").stdout)
    assert inbox["unread"] == 2
    assert [n["message"] for n in inbox["notifications"]] == ["hello 0", "hello 1"]
    readable = bob.run("inbox", "--topic", topic, "--unread").stdout
    assert "hello 1" in readable and "2 unread" in readable


def test_publish_to_one_subscriber_with_an_idempotency_key(people):
    alice, bob, carol = people("alice").signed_up(), people("bob").signed_up(), people("carol").signed_up()
    topic = _topic()
    for person in (alice, bob, carol):
        person.run("subscribe", topic)
    publish = ("publish", topic, "for bob", "--to", bob.email, "--idempotency-key", "k1", "--json")

    first = json.loads(alice.run(*publish).stdout)
    again = json.loads(alice.run(*publish).stdout)

    assert again["notification_id"] == first["notification_id"]
    assert first["recipients"] == 1
    assert len(json.loads(bob.run("inbox", "--topic", topic, "--json").stdout)["notifications"]) == 1
    assert json.loads(carol.run("inbox", "--topic", topic, "--json").stdout)["notifications"] == []


def test_contract_errors_are_readable_with_a_nonzero_exit(people):
    alice, bob = people("alice").signed_up(), people("bob").signed_up()
    topic = _topic()
    alice.run("subscribe", topic)
    bob.run("subscribe", topic)

    forbidden = bob.run("publish", topic, "not mine", ok=False)
    wrong_password = bob.run("login", bob.email, "--password", "wrong password", ok=False)
    stranger = people("stranger").run("inbox", ok=False)

    assert forbidden.returncode == 1 and "error: forbidden" in forbidden.stderr
    assert wrong_password.returncode == 1 and "error: unauthorized" in wrong_password.stderr
    assert stranger.returncode == 1 and "not logged in" in stranger.stderr
    for done in (forbidden, wrong_password, stranger):
        assert "Traceback" not in done.stderr


def test_logout_ends_the_session(people):
    alice = people("alice").signed_up()

    alice.run("logout")

    assert not (alice.home / ".notifyx" / "session.json").exists()
    assert "not logged in" in alice.run("inbox", ok=False).stderr


def test_listener_catches_up_after_its_connection_drops(cloud, new_user, topic_name):
    owner, subscriber = new_user("owner"), new_user("sub")
    topic = topic_name()
    owner_conn = owner.connect()
    owner.subscribe(owner_conn, topic)
    lines: list[str] = []
    listening = threading.Event()

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("listening to"):
            listening.set()

    def publish_once_listening() -> None:
        if listening.wait(30):
            owner_conn.request("publish", topic=topic, message="live")

    listener = Listener(Client(cloud.endpoints, subscriber.token), [topic], max_backoff=0.5, log=log)
    stream = listener.notifications(deadline=time.monotonic() + 60)
    try:
        publisher = threading.Thread(target=publish_once_listening)
        publisher.start()
        received = [next(stream)]  # subscribes, then waits for the live one
        publisher.join()
        listener.conn.close()  # the network drops; these two are published while the listener is away
        missed = [owner_conn.request("publish", topic=topic, message=f"missed {i}") for i in range(2)]

        received += [next(stream), next(stream)]
    finally:
        listener.close()

    assert [n["message"] for n in received] == ["live", "missed 0", "missed 1"]
    assert [n["id"] for n in received[1:]] == [m["notification_id"] for m in missed]
    assert any("reconnecting" in line for line in lines), lines

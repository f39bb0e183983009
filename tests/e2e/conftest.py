"""End-to-end fixtures: the real template.yaml on a LocalCloud (or any running deployment), real sockets.

By default a LocalCloud is started on free ports and shared by the session. With
NOTIFYX_ENDPOINTS=path/to/endpoints.json the tests drive that deployment instead (`notifyx up`, LocalStack,
AWS); tests that need the cloud's internals (invoking functions, the emulator, other parameters) skip then.

Fixtures for other test modules:
- `cloud`: the deployment (`.endpoints`; locally also `.invoke`, `.physical_id`, `.runtime`)
- `local_cloud`: the LocalCloud itself, or a skip when driving an external deployment
- `cloud_with(**parameters)`: a LocalCloud started with other template parameters (replaces the shared one)
- `fresh_cloud`: locally a new LocalCloud with the defaults, which no earlier test has touched (replaces the shared
  one); an external deployment as it is
- `new_user()`: a registered, logged-in `User` with a unique email; `user.connect()` opens a WebSocket
- `topic_name()`: a unique topic name
- `aws(service)`: a boto3 client for the deployment's AWS endpoint
- `endpoints_file`: a path to an endpoints.json for subprocesses (the CLI)
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client.sdk import Client, Connection, HttpApi, load_endpoints

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PASSWORD = "correct horse battery"
EXTERNAL = os.environ.get("NOTIFYX_ENDPOINTS")
# the shared cloud runs the template's defaults, with two exceptions locally. The two-phase commit's prepare and
# commit steps get 30 s instead of 5. `make test` runs two local clouds at once on 2 cores, and a burst of 20
# publishes (test_notifications.py) cold-starts ~60 sandboxes (20 gateway, ~17 persist service, ~15 persist and ~8
# counter participants: Lambda's one invocation per sandbox), which AWS starts side by side on its own machines and
# this machine one after another. A participant's first invocation past 5 s voted NO: "the publish was rolled back
# (unavailable)" failed a clean-clone run on 6 December. Tests needing other parameters use cloud_with(...).
# The suite signs up hundreds of users (two scrypt hashes each): its local clouds hash at the template's lowest
# PasswordHashCost, 10 (~3 ms a hash, ~50 ms at the default 14); tests/unit checks that the parameter sets the cost.
DEFAULT_PARAMETERS: dict[str, str] = {} if EXTERNAL else {
    "PrepareTimeoutSeconds": "30", "CommitTimeoutSeconds": "30", "PasswordHashCost": "10"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


class ExternalDeployment:
    """A running deployment known only by its endpoints file: the public contract, nothing else."""

    def __init__(self, path: str):
        self.endpoints = load_endpoints(path)
        self.endpoints_path = Path(path)

    def _internal(self, what: str):
        pytest.skip(f"{what} needs the embedded LocalCloud; NOTIFYX_ENDPOINTS={EXTERNAL} is an external deployment")

    def invoke(self, name: str, event: dict):
        self._internal(f"invoking {name} directly")

    def physical_id(self, logical_id: str):
        self._internal(f"the physical name of {logical_id}")

    @property
    def runtime(self):
        self._internal("the Lambda runtime")


class CloudPool:
    """At most one LocalCloud per process (moto's backends are global): the one with the parameters asked for."""

    def __init__(self):
        self.current = None
        self.parameters: dict[str, str] | None = None
        # the parameters of the test running now: a `cloud_with(...)` call's, else the defaults
        self.wanted: dict[str, str] = dict(DEFAULT_PARAMETERS)

    def get(self, parameters: dict[str, str]):
        if EXTERNAL:
            if parameters != DEFAULT_PARAMETERS:
                pytest.skip(f"needs a LocalCloud with parameters {parameters}; driving external {EXTERNAL}")
            return ExternalDeployment(EXTERNAL)
        if self.current is not None and self.parameters == parameters:
            return self.current
        self.stop()
        from infra.cloud import LocalCloud  # only the embedded mode needs the local cloud importable

        cloud = LocalCloud(str(TEMPLATE), parameters=dict(parameters))
        cloud.start()
        self.current, self.parameters = cloud, dict(parameters)
        return cloud

    def deployment(self):
        """The deployment of the test running now, what new users sign up on: the one its `cloud_with(...)`
        started, else one with the defaults (never a cloud an earlier test started with other parameters)."""
        if EXTERNAL:
            return ExternalDeployment(EXTERNAL)
        return self.get(self.wanted)

    def stop(self) -> None:
        if self.current is not None:
            cloud, self.current, self.parameters = self.current, None, None
            cloud.stop()


@pytest.fixture(scope="session")
def cloud_pool():
    pool = CloudPool()
    yield pool
    pool.stop()


@pytest.fixture
def cloud(cloud_pool):
    """The deployment under test, with the template's default parameters."""
    return cloud_pool.get(DEFAULT_PARAMETERS)


@pytest.fixture
def local_cloud(cloud):
    """The embedded LocalCloud; tests that need its internals skip against an external deployment."""
    if isinstance(cloud, ExternalDeployment):
        pytest.skip(f"needs the embedded LocalCloud's internals; driving external {EXTERNAL}")
    return cloud


@pytest.fixture(autouse=True)
def default_parameters(cloud_pool):
    """After a test, the wanted deployment is the defaults' again (so are the next module's fixtures')."""
    yield
    cloud_pool.wanted = dict(DEFAULT_PARAMETERS)


@pytest.fixture
def cloud_with(cloud_pool):
    """`cloud_with(TransactionLeaseSeconds="2")`: a LocalCloud started with these template parameters."""

    def start(**parameters: str):
        cloud_pool.wanted = {**DEFAULT_PARAMETERS, **{k: str(v) for k, v in parameters.items()}}
        return cloud_pool.get(cloud_pool.wanted)

    return start


@pytest.fixture
def fresh_cloud(cloud_pool):
    """A deployment no earlier test has touched, for tests of state that lingers (a metric's last minute, an alarm's
    state): locally a new LocalCloud with the default parameters, which the tests after this one go on using."""
    if EXTERNAL:
        return ExternalDeployment(EXTERNAL)
    cloud_pool.stop()
    return cloud_pool.get(DEFAULT_PARAMETERS)


@pytest.fixture
def endpoints_file(cloud, tmp_path) -> Path:
    """An endpoints.json for subprocesses such as the CLI."""
    if isinstance(cloud, ExternalDeployment):
        return cloud.endpoints_path
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(cloud.endpoints))
    return path


@pytest.fixture
def aws(cloud_pool):
    """`aws("dynamodb")`: a boto3 client for the running deployment's AWS endpoint (the emulator locally)."""
    import boto3

    def client(service: str):
        cloud = cloud_pool.deployment()
        return boto3.client(service, endpoint_url=cloud.endpoints.get("aws_endpoint"),
                            region_name=cloud.endpoints.get("region", "us-east-1"),
                            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))

    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_name():
    """A fresh topic name per call: tests never share topics."""
    return lambda prefix="t": unique(prefix)


@dataclass
class User:
    """A registered, logged-in user of the deployment under test."""

    email: str
    password: str
    id: str
    token: str
    client: Client
    connections: list[Connection] = field(default_factory=list)

    @property
    def http(self) -> HttpApi:
        return self.client.http

    def connect(self) -> Connection:
        """An authenticated WebSocket, closed at the end of the test."""
        conn = self.client.connect()
        self.connections.append(conn)
        return conn

    def subscribe(self, conn: Connection, topic: str) -> dict:
        return conn.request("subscribe", topic=topic)

    def published(self) -> int:
        return int(self.http.counter()["published"])


@pytest.fixture
def new_user(cloud_pool):
    """`new_user()` registers and logs in a user with a unique email on the running deployment (the one a
    `cloud_with(...)` call started, if any); their sockets close after the test."""
    users: list[User] = []

    def make(prefix: str = "user") -> User:
        cloud = cloud_pool.deployment()
        email = f"{unique(prefix)}@example.com"
        anonymous = HttpApi(cloud.endpoints["http_api"])
        anonymous.register(email, PASSWORD)
        session = anonymous.login(email, PASSWORD)
        client = Client(cloud.endpoints, session["token"])
        user = User(email=email, password=PASSWORD, id=session["user"]["id"], token=session["token"], client=client)
        users.append(user)
        return user

    yield make
    for user in users:
        for conn in user.connections:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a socket the test closed or the server dropped
                pass


@pytest.fixture
def owner_and_subscriber(new_user, topic_name):
    """(owner, owner's socket, subscriber, subscriber's socket, topic): the topic created by the owner."""
    owner, subscriber = new_user("owner"), new_user("sub")
    topic = topic_name()
    owner_conn, sub_conn = owner.connect(), subscriber.connect()
    created = owner.subscribe(owner_conn, topic)
    assert created["created"] is True and created["can_publish"] is True, created
    joined = subscriber.subscribe(sub_conn, topic)
    assert joined["created"] is False and joined["can_publish"] is False, joined
    return owner, owner_conn, subscriber, sub_conn, topic

"""Unit tests import the functions' code as Lambda does (functions/ on sys.path) and never reach a real AWS."""
import os
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))

# moto's mock_aws intercepts every call; these only make sure nothing can sign for a real account
from infra.account import ENVIRONMENT  # noqa: E402 - the local cloud's account, region and test keys

for name, value in ENVIRONMENT.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_ENDPOINT_URL", None)  # a leftover local-cloud endpoint would bypass mock_aws

from tables import parameter_environment  # noqa: E402 - tests/unit is on sys.path (rootdir conftest)

# scrypt at the template's lowest PasswordHashCost (~3 ms a hash instead of ~50): tests hash hundreds of passwords,
# and test_auth checks that the parameter sets the cost
os.environ.setdefault("PASSWORD_HASH_COST", "10")

for name, value in parameter_environment().items():  # the tunables template.yaml gives every function
    os.environ.setdefault(name, value)


import pytest  # noqa: E402 - after the environment above is set


@pytest.fixture(autouse=True)
def cold_start():
    """Each test starts as a cold start: its clients are made under its own moto mock (core.aws shares them per
    container) and its configuration is read from the environment its fixtures set (core.config keeps it)."""
    from core import aws, breakers, config, discovery
    from gateway import owners

    kept = (aws, config, discovery, breakers, owners)  # everything a container keeps between invocations
    for cached in kept:
        cached.forget()
    yield
    for cached in kept:
        cached.forget()


class Clock:
    """A clock a test moves by hand: ``clock.at`` is the time every function reads."""

    def __init__(self, at: float):
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock():
    """Functions read this test's Clock (core.clock), starting at the current time."""
    import time

    from core import clock as functions_clock

    fixed = Clock(time.time())
    functions_clock.use(fixed)
    yield fixed
    functions_clock.reset()


@pytest.fixture
def atomic_moto_dynamodb():
    """DynamoDB applies each request atomically; moto's in-memory backend does not (a TransactWriteItems
    deep-copies the table while other threads write to it): the local cloud's own lock, here too."""
    from infra import moto_patches

    moto_patches.patch("dynamodb-atomic-requests").apply()


@pytest.fixture
def stoppable_moto_executions():
    """StopExecution right after StartExecution stops the execution on AWS; moto's interpreter failed it (500),
    dropped it, or slept through it in a Wait state, depending on its threads' timing: the local cloud's fenced
    patches (sfn-stop-right-after-start, sfn-wait-notices-a-stop), here too."""
    yield from _fenced("sfn-stop-right-after-start", "sfn-wait-notices-a-stop")


@pytest.fixture(autouse=True)
def api_gateway_authorizer(monkeypatch):
    """Chalice's test client fronted by the template's REST TOKEN authorizer, as API Gateway fronts the routes."""
    from cloudmap import install_authorizer

    yield from install_authorizer(monkeypatch)


@pytest.fixture(autouse=True, scope="session")
def models_parsed_once():
    """moto's mock_aws gives each test a new boto3 session, and botocore's loader would parse every model file again
    for it (~40% of this suite's CPU): the local cloud's fenced botocore-shared-models patches keep one parsed copy
    per process, as a Lambda sandbox keeps its loader between invocations."""
    from infra import moto_patches

    yield from _fenced(*(p.name for p in moto_patches.BOTOCORE_PATCHES if p.name.startswith("botocore-shared-models-")))


def _fenced(*names: str):
    """A fixture's body: the local cloud's registered patches `names` (infra/moto_patches.py) applied while it lasts."""
    from infra import moto_patches

    patches = [moto_patches.patch(name) for name in names]
    for patch in patches:
        patch.apply()
    yield
    for patch in patches:
        patch.revert()

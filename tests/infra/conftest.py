"""Fixtures the local-cloud parity tests share."""
import pytest

from infra import emulator as emulator_module
from infra.cloud import LocalCloud
from infra.emulator import Emulator


@pytest.fixture(scope="module")
def emulator_endpoint():
    """An emulator on a free port, also answering this process's boto3 clients in process (as a LocalCloud
    does for its functions); stopped after the test module."""
    emulator = Emulator(port=0).start()
    emulator_module.serve_in_process(emulator.endpoint)
    try:
        yield emulator.endpoint
    finally:
        emulator_module.stop_serving_in_process()
        emulator.stop()



@pytest.fixture(scope="module")
def cloud(request):
    """The local cloud of the test module's TEMPLATE (a fixture app's), shared by the module's tests; a module that
    needs another (parameters, ports) defines its own `cloud`."""
    with LocalCloud(request.module.TEMPLATE, static_dir=None) as running:
        yield running

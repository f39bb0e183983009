"""Switching this process's in-process path to the emulator off for a while (parity tests of that path)."""
import contextlib

from infra import emulator as emulator_module


@contextlib.contextmanager
def over_http():
    """Within it, this process's boto3 calls to the emulator go over HTTP (the in-process path switched off)."""
    hosts = set(emulator_module.in_process_requests.hosts)
    emulator_module.stop_serving_in_process()
    try:
        yield
    finally:
        emulator_module.in_process_requests.hosts.update(hosts)

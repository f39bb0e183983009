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


def with_and_without(patch_names, run):
    """(run() with the named moto patches out, run() with them in, run() with them in once more: what a cache in
    a patch answers the second time), the patches out again afterwards."""
    from infra import moto_patches

    patches = [moto_patches.patch(name) for name in patch_names]
    assert not any(p.applied for p in patches), "the parity runs start from moto as it is"
    plain = run()
    for p in patches:
        p.apply()
    try:
        return plain, run(), run()
    finally:
        for p in patches:
            p.revert()

"""The local cloud's ids (infra/ids.py): AWS's shapes, unique, and not repeated by a forked child."""
from __future__ import annotations

import os
import re
import uuid

from infra import ids


def test_request_ids_are_version_4_uuids_and_unique():
    made = [ids.request_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    for request_id in made[:100]:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", request_id)
        assert uuid.UUID(request_id).version == 4


def test_hex_ids_have_their_width():
    assert all(re.fullmatch(r"[0-9a-f]{24}", ids.hex_id(96)) for _ in range(1_000))
    assert all(re.fullmatch(r"[0-9a-f]{16}", ids.hex_id(64)) for _ in range(1_000))


def test_a_forked_child_makes_other_ids_than_its_parent():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, ids.request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert uuid.UUID(child).version == 4 and child != ids.request_id()

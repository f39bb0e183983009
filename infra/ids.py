"""Ids the local cloud makes: request ids, invocation ids, X-Ray trace and segment ids.

They need to be unique, not secret, so Python's PRNG makes them (the module's own generator, which CPython reseeds
in a forked child). ``uuid.uuid4`` and ``secrets`` read os.urandom, whose syscall lets go of the interpreter: in the
cloud's busy process every id was a hand-off of the GIL to another thread and back.
"""
from __future__ import annotations

import random
import uuid


def request_id() -> str:
    """A request id shaped as AWS's: a version-4 UUID ("c6af9ac6-7b61-41e6-9a41-93e8deadbeef")."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def hex_id(bits: int) -> str:
    """`bits` random bits as lowercase hex, zero-padded (X-Ray: 96 for a trace id, 64 for a segment id)."""
    return f"{random.getrandbits(bits):0{bits // 4}x}"

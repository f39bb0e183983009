"""Password hashing: scrypt with a per-user random salt, parameters stored with the hash."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from core import config

# scrypt's block size and parallelism; its cost N = 2**PASSWORD_HASH_COST (template.yaml's PasswordHashCost: 14 is
# the "interactive login" cost, 16 MiB and tens of ms, affordable per login on a 256 MB Lambda)
R, P = 8, 1
SALT_BYTES = 16
KEY_BYTES = 32


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=KEY_BYTES)


def cost() -> int:
    """scrypt's N for new hashes (the parameters of older ones are stored with them)."""
    return 2 ** config.integer("PASSWORD_HASH_COST")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$<salt b64>$<key b64>`` for a fresh random salt, at the current cost."""
    n = cost()
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, n, R, P)
    return "$".join(["scrypt", str(n), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(key).decode()])


def check_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the encoded hash, compared in constant time."""
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def check_decoy(password: str) -> bool:
    """False, after the work of checking ``password`` against a hash at the current cost: a login for an unknown
    email costs as much as a wrong password."""
    _derive(password, _DECOY_SALT, cost(), R, P)
    return False


_DECOY_SALT = secrets.token_bytes(SALT_BYTES)

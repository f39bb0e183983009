"""Password hashing: scrypt with a per-user random salt, parameters stored with the hash."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt's "interactive login" cost (16 MiB, tens of ms): affordable per login on a 256 MB Lambda
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$<salt b64>$<key b64>`` for a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, N, R, P)
    return "$".join(["scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(key).decode()])


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


# checked against when the email is unknown, so that a miss costs as much as a wrong password
DECOY_HASH = hash_password(secrets.token_urlsafe(16))

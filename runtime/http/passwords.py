"""Password hashes: scrypt, encoded `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`.

The user service hashes a password when a user registers; the auth service verifies it at
login. Both use this one module, so the encoding has a single definition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from runtime.errors import PlatformError

__all__ = ["PasswordHashError", "hash_password", "verify_password"]

N, R, P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAX_N = 2**20  # a hash naming a larger cost is refused: it would stall the verifier


class PasswordHashError(PlatformError):
    """A stored password hash is not in the `scrypt$...` encoding."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The scrypt hash of `password` with a fresh random 16-byte salt (CPU-bound, ~50 ms)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = _scrypt(password, salt, N, R, P)
    return "$".join(
        ("scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)),
    )


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded`, compared in constant time (CPU-bound)."""
    n, r, p, salt, expected = _parse(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = HASH_BYTES) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * r * n + 2**20, dklen=length
    )


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PasswordHashError("the password hash is not scrypt$<n>$<r>$<p>$<salt>$<hash>")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = (
            base64.b64decode(parts[4], validate=True),
            base64.b64decode(parts[5], validate=True),
        )
    except ValueError as exc:
        raise PasswordHashError(f"the password hash is malformed: {exc}") from exc
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16 and digest):
        raise PasswordHashError(f"the password hash's cost n={n} r={r} p={p} is out of range")
    return n, r, p, salt, digest


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

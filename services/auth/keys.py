"""The signing keys, kept in the auth schema so that replicas and restarts share them.

The newest key signs; the key set (JWKS) holds it and the one before, so tokens signed
just before a rotation still verify. A key is rotated when it is older than the rotation
period; replicas pick the new key up when they reload (a job), and verify with either key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.http.auth import AuthenticationError, Principal, SigningKey, kid_of

__all__ = ["KEYS_IN_SET", "KeyStore"]

KEYS_IN_SET = 2
"""The current key and the previous one."""

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".signing_keys (
    kid text PRIMARY KEY, private_pem text NOT NULL, created_at timestamptz NOT NULL);
"""


class KeyStore:
    """The key set in memory, loaded from and rotated in Postgres; a `TokenVerifier`."""

    def __init__(self, schema: str, rotation: timedelta = timedelta(days=30)) -> None:
        self._schema = schema
        self._s = f'"{schema}"'
        self._lock_name = f"a4co.{schema}.signing_keys"
        self.rotation = rotation
        self._keys: list[tuple[SigningKey, datetime]] = []  # newest first

    @property
    def current(self) -> SigningKey:
        """The key that signs new tokens."""
        if not self._keys:
            raise AuthenticationError("the auth service has loaded no signing key yet")
        return self._keys[0][0]

    @property
    def kids(self) -> list[str]:
        """The ids of the keys in the set, newest first."""
        return [key.kid for key, _ in self._keys]

    def jwks(self) -> dict[str, Any]:
        """The public key set (RFC 7517)."""
        return {"keys": [key.jwk() for key, _ in self._keys]}

    async def verify(self, token: str) -> Principal:
        """Verify a token signed by a key of the set."""
        kid = kid_of(token)
        for key, _ in self._keys:
            if key.kid == kid:
                return await key.verify(token)
        raise AuthenticationError(f"the token's key {kid} is not in the key set")

    async def migrate(self, connection: Any, now: datetime) -> None:
        """Create the table, make the first key if there is none, and load the set."""
        await connection.execute(_DDL.format(s=self._schema))
        if not await connection.fetchval(f"SELECT EXISTS (SELECT 1 FROM {self._s}.signing_keys)"):
            await self._insert(connection, SigningKey.generate(), now)
        await self.load(connection)

    async def load(self, connection: Any) -> None:
        """Read the newest keys into memory."""
        rows = await connection.fetch(
            f"SELECT kid, private_pem, created_at FROM {self._s}.signing_keys"
            " ORDER BY created_at DESC, kid LIMIT $1",
            KEYS_IN_SET,
        )
        self._keys = [(_from_pem(r["kid"], r["private_pem"]), r["created_at"]) for r in rows]

    async def rotate_if_due(self, connection: Any, now: datetime) -> bool:
        """Rotate when the newest key is older than the rotation period; then reload."""
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_name)
        newest = await connection.fetchval(f"SELECT max(created_at) FROM {self._s}.signing_keys")
        due = newest is None or now - newest >= self.rotation
        if due:
            await self._insert(connection, SigningKey.generate(), now)
        await self.load(connection)
        return due

    async def rotate(self, connection: Any, now: datetime) -> SigningKey:
        """Make a new current key now, whatever the age of the last one; then reload."""
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_name)
        key = SigningKey.generate()
        await self._insert(connection, key, now)
        await self.load(connection)
        return key

    async def _insert(self, connection: Any, key: SigningKey, now: datetime) -> None:
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        await connection.execute(
            f"INSERT INTO {self._s}.signing_keys VALUES ($1, $2, $3)", key.kid, pem, now
        )


def _from_pem(kid: str, pem: str) -> SigningKey:
    private = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise AuthenticationError(f"the stored signing key {kid} is not an RSA key")
    return SigningKey(kid, private)

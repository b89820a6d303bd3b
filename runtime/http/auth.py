"""Who is calling: bearer JWTs verified locally against the auth service's key set.

Every service verifies access tokens itself (RS256, issuer and audience checked, keys from
the JWKS cached by `kid`), so no request calls auth, and refuses a token whose session was
revoked (the app's `RevocationList`), as the gateway does. Generated routers ask for a
`Principal` through `authenticated` or `require_roles(...)`; a missing or bad token is a
401 problem with `WWW-Authenticate: Bearer`, a missing role a 403.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol
from uuid import UUID, uuid4

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from runtime.errors import PlatformError
from runtime.http.memory import Remembered
from runtime.http.problem import ProblemError

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "AuthenticationError",
    "JwksVerifier",
    "Principal",
    "RevocationList",
    "SigningKey",
    "TokenVerifier",
    "VerifiedTokens",
    "authenticated",
    "kid_of",
    "require_roles",
]

ISSUER = "a4co-auth"
AUDIENCE = "a4co"
ALGORITHM = "RS256"


class AuthenticationError(PlatformError):
    """A token is missing, malformed, expired, or not signed by a known key."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, from a verified access token."""

    subject: UUID
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    session_id: UUID | None = None
    expires_at: int = 0
    token: str = field(default="", repr=False)

    @property
    def is_admin(self) -> bool:
        """Whether the caller holds the admin role."""
        return "admin" in self.roles

    def owns(self, subject: UUID) -> bool:
        """Whether `subject` is the caller, or the caller is an admin."""
        return self.subject == subject or self.is_admin

    def require_owner(self, subject: UUID, what: str = "this resource") -> None:
        """Raise a 403 problem unless `owns(subject)`."""
        if not self.owns(subject):
            raise ProblemError(403, "Forbidden", f"Only its owner or an admin may use {what}.")

    @property
    def authorization(self) -> dict[str, str]:
        """The header that forwards this caller's token to another service."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str = "") -> Principal:
        """A principal from verified JWT claims; a claim of the wrong shape is an error."""
        try:
            session = claims.get("sid")
            return cls(
                subject=UUID(str(claims["sub"])),
                roles=frozenset(str(r) for r in claims.get("roles") or ()),
                scopes=frozenset(str(claims.get("scope") or "").split()),
                session_id=UUID(str(session)) if session else None,
                expires_at=int(claims.get("exp") or 0),
                token=token,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise AuthenticationError(f"the token's claims are malformed: {exc}") from exc


class TokenVerifier(Protocol):
    """Turns a bearer token into a `Principal`, or raises `AuthenticationError`."""

    async def verify(self, token: str) -> Principal:
        """Verify signature, expiry, issuer and audience."""
        ...


class RevocationList(Protocol):
    """Which sessions were revoked before their tokens expired."""

    async def revoked(self, session_id: UUID) -> bool:
        """Whether the session's tokens must be refused."""
        ...


def _decode(token: str, key: Any) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"the token is not valid: {exc}") from exc
    return claims


def kid_of(token: str) -> str:
    """The `kid` header of an RS256 token, unverified; `AuthenticationError` if it has none."""
    return _kid(token)


def _kid(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"the token is not a JWT: {exc}") from exc
    if header.get("alg") != ALGORITHM or not header.get("kid"):
        raise AuthenticationError("the token is not signed with RS256 by a key with a kid")
    return str(header["kid"])


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair that signs access tokens: the auth service's, or a test's."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        """A fresh 2048-bit key."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"k-{uuid4().hex[:12]}", key)

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK (RFC 7517) with `kid`, `use` and `alg`."""
        public: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self.private_key.public_key(), as_dict=True
        )
        return {**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def issue(
        self,
        subject: UUID,
        roles: Iterable[str] = ("customer",),
        *,
        lifetime: int = 900,
        session_id: UUID | None = None,
        scope: str = "",
        now: float | None = None,
    ) -> str:
        """A signed access token for `subject`."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(subject),
            "iat": issued,
            "exp": issued + lifetime,
            "roles": sorted(roles),
            "jti": uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        if scope:
            claims["scope"] = scope
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    async def verify(self, token: str) -> Principal:
        """Verify a token this key signed (a verifier for tests and the auth service)."""
        if _kid(token) != self.kid:
            raise AuthenticationError("the token was signed by an unknown key")
        return Principal.from_claims(_decode(token, self.private_key.public_key()), token)


class VerifiedTokens:
    """Tokens already verified, with their `kid` and principal, until each expires.

    Only tokens that passed verification are kept (a forged one costs its check every
    time, and fills nothing), at most `limit`, the oldest forgotten first. A token is the
    same bytes whose signature was checked, so the answer cannot differ while it has not
    expired; whether its session was revoked is asked on every request all the same.
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.time) -> None:
        self._tokens: Remembered[str, tuple[str, Principal]] = Remembered(limit, clock)

    def get(self, token: str) -> tuple[str, Principal] | None:
        """The `kid` and principal of `token`, if it was verified and has not expired."""
        return self._tokens.get(token)

    def put(self, token: str, kid: str, principal: Principal) -> None:
        """Remember a verified token (one without an expiry is not kept)."""
        if principal.expires_at:
            self._tokens.put(token, (kid, principal), principal.expires_at)


class JwksVerifier:
    """Verifies tokens with keys fetched from a JWKS URL, cached by `kid`.

    An unknown `kid` refetches the set (a rotation), at most once per `min_refresh`
    seconds, so a flood of forged kids cannot hammer the auth service.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        fetch: Callable[[str], Awaitable[Mapping[str, Any]]] | None = None,
        min_refresh: float = 5.0,
        remember: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = jwks_url
        self._fetch = fetch or _fetch_json
        self._min_refresh = min_refresh
        self._keys: dict[str, Any] = {}
        self._fetched_at = -min_refresh
        self._lock = asyncio.Lock()
        self._verified = VerifiedTokens(remember, clock)

    async def verify(self, token: str) -> Principal:
        """Verify `token`; refetch the key set once if its `kid` is unknown.

        A token verified before, whose key is still in the set, is answered from memory
        until it expires: a customer's token signs many requests, and each RS256 check
        cost more than the rest of the authentication.
        """
        known = self._verified.get(token)
        if known is not None and known[0] in self._keys:
            return known[1]
        kid = _kid(token)
        key = self._keys.get(kid) or await self._refresh(kid)
        principal = Principal.from_claims(_decode(token, key), token)
        self._verified.put(token, kid, principal)
        return principal

    async def _refresh(self, kid: str) -> Any:
        async with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if time.monotonic() - self._fetched_at < self._min_refresh:
                raise AuthenticationError(f"the token's key {kid} is unknown")
            self._fetched_at = time.monotonic()
            try:
                document = await self._fetch(self._url)
                keys = jwt.PyJWKSet.from_dict(dict(document)).keys
            except (httpx.HTTPError, jwt.PyJWTError, ValueError) as exc:
                raise AuthenticationError(f"the key set at {self._url} is unavailable") from exc
            self._keys = {k.key_id: k.key for k in keys if k.key_id}
            if kid not in self._keys:
                raise AuthenticationError(f"the token's key {kid} is unknown")
            return self._keys[kid]


async def _fetch_json(url: str) -> Mapping[str, Any]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        response = await client.get(url)
        response.raise_for_status()
        document: Mapping[str, Any] = response.json()
        return document


_bearer = HTTPBearer(
    scheme_name="bearer", auto_error=False, description="An access token from the auth service."
)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The request's verified caller; a 401 problem without a valid bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("A bearer token is required.")
    verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
    if verifier is None:
        raise _unauthorized("This service has no token verifier configured.")
    try:
        principal = await verifier.verify(credentials.credentials)
    except AuthenticationError as exc:
        raise _unauthorized(str(exc)) from exc
    revocations: RevocationList | None = getattr(request.app.state, "revocations", None)
    session = principal.session_id
    if session is not None and revocations is not None and await revocations.revoked(session):
        raise _unauthorized("The token's session was revoked.")
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the verified caller, who must hold one of `roles` (else a 403)."""
    wanted = frozenset(roles)

    async def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.roles & wanted:
            raise ProblemError(
                403, "Forbidden", f"This operation needs the role {' or '.join(sorted(wanted))}."
            )
        return principal

    return dependency

"""The auth service's REST API: token grants, revocation, introspection and the JWKS."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Literal, cast, get_args

from generated.auth.models import (
    IntrospectionRequest,
    IntrospectionResponse,
    Jwk,
    JwkSet,
    RevokeRequest,
    RevokeResponse,
    TokenRequest,
    TokenResponse,
)
from runtime.eventstore.postgres import connection_of
from runtime.http import ProblemError
from runtime.http.auth import AuthenticationError, Principal
from runtime.http.passwords import hash_password, verify_password
from runtime.service import ServiceContext
from services.auth.domain import (
    ACCESS_LIFETIME,
    REFRESH_LIFETIME,
    digest,
    new_refresh_token,
    session_of_refresh,
)
from services.auth.keys import KeyStore
from services.auth.logins import LoginViews
from services.auth.revocations import Revocations
from services.auth.sessions import Rotation, Session, SessionStore

__all__ = ["AuthApi"]

Role = Literal["customer", "artisan", "admin"]
_ROLES = frozenset(get_args(Role))


class AuthApi:
    """Implements `generated.auth.api.Api`."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        keys: KeyStore,
        logins: LoginViews,
        sessions: SessionStore,
        revocations: Revocations,
    ) -> None:
        self._ctx = ctx
        self._keys = keys
        self._logins = logins
        self._sessions = sessions
        self._revocations = revocations
        self._decoy: str | None = None

    async def issue_token(self, body: TokenRequest) -> TokenResponse:
        """The password grant (a new session) or the refresh grant (rotation)."""
        if body.grant_type == "password":
            if body.username is None or body.password is None:
                raise _missing("username and password are required with grant_type password.")
            return await self._log_in(body.username, body.password, body.scope or "")
        if body.refresh_token is None:
            raise _missing("refresh_token is required with grant_type refresh_token.")
        return await self._refresh(body.refresh_token)

    async def revoke_token(self, body: RevokeRequest) -> RevokeResponse:
        """End the session of an access or refresh token; unknown tokens revoke nothing."""
        session = await self._session_of(body.token)
        if session is None or not session.active:
            return RevokeResponse(revoked=False)
        revoked = await self._revocations.revoke(session, "logout")
        return RevokeResponse(revoked=revoked, session_id=session.session_id if revoked else None)

    async def introspect_token(
        self, principal: Principal, body: IntrospectionRequest
    ) -> IntrospectionResponse:
        """Active only when signed by us, unexpired and of a live session; no Postgres read."""
        sid = session_of_refresh(body.token)
        if sid is not None:
            session = await self._sessions.get(sid)
            if session is None or not session.active or session.refresh != digest(body.token):
                return IntrospectionResponse(active=False)
            return IntrospectionResponse(
                active=True,
                sub=session.user_id,
                scope=session.scope or None,
                exp=session.expires_at,
                session_id=sid,
                roles=_known_roles(session.roles),
            )
        try:  # a caller introspecting its own token was verified already, by the same keys
            claims = (
                principal if body.token == principal.token else await self._keys.verify(body.token)
            )
        except AuthenticationError:
            return IntrospectionResponse(active=False)
        if claims.session_id is None or not await self._sessions.is_active(claims.session_id):
            return IntrospectionResponse(active=False)
        return IntrospectionResponse(
            active=True,
            sub=claims.subject,
            scope=" ".join(sorted(claims.scopes)) or None,
            exp=claims.expires_at,
            session_id=claims.session_id,
            roles=_known_roles(claims.roles),
        )

    async def get_jwks(self) -> JwkSet:
        """The current and the previous public key."""
        fields = Jwk.model_fields.keys()  # the contract's members; PyJWT adds key_ops
        keys = [{f: k[f] for f in fields} for k in self._keys.jwks()["keys"]]
        return JwkSet(keys=[Jwk.model_validate(k) for k in keys])

    async def _log_in(self, email: str, password: str, scope: str) -> TokenResponse:
        async with self._ctx.transaction() as tx:
            login = await self._logins.by_email(connection_of(tx), email)
        stored = login.password_hash if login is not None else None
        # Without a login, a decoy hash is checked all the same, so timing tells nothing.
        matches = await asyncio.to_thread(verify_password, password, stored or await self._dummy())
        if login is None or stored is None or not matches:
            raise ProblemError(401, "Unauthorized", "The e-mail or the password is wrong.")
        sid = uuid.uuid4()
        refresh = new_refresh_token(sid)
        session = Session(
            session_id=sid,
            user_id=login.user_id,
            roles=(login.role,),
            scope=scope,
            active=True,
            expires_at=int(time.time()) + REFRESH_LIFETIME,
            refresh=digest(refresh),
        )
        await self._sessions.create(session)
        return self._tokens(session, refresh)

    async def _refresh(self, token: str) -> TokenResponse:
        sid = session_of_refresh(token)
        if sid is None:
            raise _invalid_grant("The refresh token is not one this service issued.")
        replacement = new_refresh_token(sid)
        outcome = await self._sessions.rotate(sid, digest(token), digest(replacement))
        session = await self._sessions.get(sid)
        if outcome is Rotation.REUSED and session is not None:
            await self._revocations.revoke(session, "refresh_token_reused")
            raise _invalid_grant("The refresh token was already used; its session is revoked.")
        if outcome is not Rotation.ROTATED or session is None:
            raise _invalid_grant(f"The refresh token is {outcome.value} or expired.")
        return self._tokens(session, replacement)

    def _tokens(self, session: Session, refresh: str) -> TokenResponse:
        access = self._keys.current.issue(
            session.user_id,
            session.roles,
            lifetime=ACCESS_LIFETIME,
            session_id=session.session_id,
            scope=session.scope,
        )
        return TokenResponse(
            access_token=access,
            refresh_token=refresh,
            token_type="Bearer",
            expires_in=ACCESS_LIFETIME,
        )

    async def _session_of(self, token: str) -> Session | None:
        """The live session a (current) refresh token or a valid access token belongs to."""
        sid = session_of_refresh(token)
        if sid is not None:
            session = await self._sessions.get(sid)
            return session if session is not None and session.refresh == digest(token) else None
        try:
            claims = await self._keys.verify(token)
        except AuthenticationError:
            return None
        return await self._sessions.get(claims.session_id) if claims.session_id else None

    async def _dummy(self) -> str:
        if self._decoy is None:
            self._decoy = await asyncio.to_thread(hash_password, uuid.uuid4().hex)
        return self._decoy


def _known_roles(roles: tuple[str, ...] | frozenset[str]) -> list[Role]:
    return [cast(Role, r) for r in sorted(roles) if r in _ROLES]


def _missing(detail: str) -> ProblemError:
    return ProblemError(422, "Unprocessable Content", detail)


def _invalid_grant(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail)

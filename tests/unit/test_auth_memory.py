"""What a service remembers of tokens and sessions between requests, and when it forgets.

A verified token is answered from memory until it expires or its key leaves the set; a
session found live is asked about again after `fresh_for` seconds, a revoked one never.
The verifier runs its real RS256 checks; the key set is served by a function, as the
auth service's JWKS would be.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest

import runtime.http.auth as auth
from runtime.http.auth import AuthenticationError, JwksVerifier, SigningKey, VerifiedTokens
from runtime.http.revocation import SessionAnswers

KEY = SigningKey.generate("k-memory")
OTHER = SigningKey.generate("k-other")


class KeySet:
    """A JWKS endpoint whose keys a test changes."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)

    async def __call__(self, url: str) -> Mapping[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature the verifier really checked, in order."""
    seen: list[str] = []
    decode = auth._decode

    def counting(token: str, key: Any) -> dict[str, Any]:
        seen.append(token)
        return decode(token, key)

    monkeypatch.setattr(auth, "_decode", counting)
    return seen


async def test_a_token_verified_once_is_answered_from_memory(checks: list[str]) -> None:
    verifier = JwksVerifier("https://auth.test/jwks", fetch=KeySet(KEY))
    token = KEY.issue(uuid.uuid4(), ["customer"], session_id=uuid.uuid4())

    first, second = await verifier.verify(token), await verifier.verify(token)

    assert first == second
    assert first.token == token
    assert checks == [token]


async def test_a_forged_token_is_checked_every_time_and_never_remembered(
    checks: list[str],
) -> None:
    verifier = JwksVerifier("https://auth.test/jwks", fetch=KeySet(KEY))
    genuine = KEY.issue(uuid.uuid4(), ["customer"])
    header, claims, _ = genuine.split(".")
    forged_claims = KEY.issue(uuid.uuid4(), ["admin"]).split(".")[1]
    forged = f"{header}.{forged_claims}.{genuine.split('.')[2]}"

    for _ in range(2):
        with pytest.raises(AuthenticationError, match="not valid"):
            await verifier.verify(forged)

    assert checks == [forged, forged]
    assert claims != forged_claims


async def test_a_remembered_token_is_refused_once_its_key_leaves_the_set() -> None:
    keys = KeySet(OTHER)
    verifier = JwksVerifier("https://auth.test/jwks", fetch=keys, min_refresh=0.0)
    retired = OTHER.issue(uuid.uuid4(), ["customer"])
    await verifier.verify(retired)
    keys.keys = [KEY]  # auth rotated: a token of the new key makes the verifier refetch
    await verifier.verify(KEY.issue(uuid.uuid4(), ["customer"]))

    with pytest.raises(AuthenticationError, match="unknown"):
        await verifier.verify(retired)


async def test_a_remembered_token_is_refused_once_it_has_expired(checks: list[str]) -> None:
    verifier = JwksVerifier("https://auth.test/jwks", fetch=KeySet(KEY))
    issued = int(time.time())
    token = KEY.issue(uuid.uuid4(), ["customer"], lifetime=3, now=issued)
    await verifier.verify(token)

    await asyncio.sleep(max(0.0, issued + 3 - time.time()) + 0.05)  # past its `exp`

    with pytest.raises(AuthenticationError, match="expired"):
        await verifier.verify(token)
    assert checks == [token, token], "checked again, not answered from memory"


def test_the_memory_of_tokens_forgets_at_expiry_and_the_oldest_first() -> None:
    clock = Clock(1_000.0)
    tokens = VerifiedTokens(2, clock)
    principals = [
        auth.Principal(uuid.uuid4(), expires_at=1_000 + lifetime) for lifetime in (10, 20, 30)
    ]
    for n, principal in enumerate(principals):
        tokens.put(f"t{n}", "k", principal)

    assert tokens.get("t0") is None, "the oldest of three went when the third came"
    assert tokens.get("t1") == ("k", principals[1])
    clock.now = 1_020.0
    assert tokens.get("t1") is None, "expired at 1020"
    assert tokens.get("t2") == ("k", principals[2])


def test_a_token_without_expiry_is_not_remembered() -> None:
    tokens = VerifiedTokens(10)
    tokens.put("t", "k", auth.Principal(uuid.uuid4(), expires_at=0))

    assert tokens.get("t") is None


def test_a_live_session_is_remembered_for_a_moment_a_revoked_one_for_good() -> None:
    clock = Clock(50.0)
    answers = SessionAnswers(fresh_for=1.0, clock=clock)
    live, revoked = uuid.uuid4(), uuid.uuid4()
    answers.put(live, False)
    answers.put(revoked, True)

    assert (answers.get(live), answers.get(revoked)) == (False, True)
    clock.now = 51.0
    assert answers.get(live) is None, "asked again after fresh_for"
    clock.now = 1e9
    assert answers.get(revoked) is True


def test_session_answers_keep_at_most_their_limit_and_zero_keeps_nothing() -> None:
    answers = SessionAnswers(limit=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for session in (first, second, third):
        answers.put(session, True)
    nothing = SessionAnswers(fresh_for=0.0)
    nothing.put(first, True)

    assert [answers.get(s) for s in (first, second, third)] == [None, True, True]
    assert nothing.get(first) is None

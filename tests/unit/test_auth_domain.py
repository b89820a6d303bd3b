"""Pure rules of the auth service: refresh-token format, bootstrap admin, password hashes."""

from __future__ import annotations

import uuid

import pytest

from runtime.errors import ConfigurationError
from runtime.http.passwords import PasswordHashError, hash_password, verify_password
from services.auth.domain import BootstrapAdmin, digest, new_refresh_token, session_of_refresh


def test_a_refresh_token_names_its_session_and_is_unguessable() -> None:
    sid = uuid.uuid4()

    first, second = new_refresh_token(sid), new_refresh_token(sid)

    assert session_of_refresh(first) == sid == session_of_refresh(second)
    assert first != second
    assert len(first) <= 512  # the contract's maxLength of refresh_token


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", f"rt.{uuid.uuid4().hex}.short"],
)
def test_other_strings_are_not_refresh_tokens(token: str) -> None:
    assert session_of_refresh(token) is None


def test_only_a_digest_of_a_refresh_token_is_kept() -> None:
    token = new_refresh_token(uuid.uuid4())

    assert digest(token) == digest(token)
    assert token not in digest(token) and len(digest(token)) == 64


def test_the_bootstrap_admin_id_is_the_same_for_the_same_email() -> None:
    admin = BootstrapAdmin.parse("Root@A4co.test:pass:with:colons")

    assert admin.password == "pass:with:colons"
    assert admin.user_id == BootstrapAdmin("root@a4co.test", "other-password").user_id
    assert admin.user_id != BootstrapAdmin("ops@a4co.test", "other-password").user_id


@pytest.mark.parametrize("raw", ["no-colon", "not-an-email:longenough", "a@b.es:short"])
def test_a_bad_bootstrap_admin_fails_without_showing_the_password(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="A4CO_BOOTSTRAP_ADMIN") as raised:
        BootstrapAdmin.parse(raw)

    assert "longenough" not in str(raised.value) and "short" not in str(raised.value)


def test_a_password_hash_is_salted_scrypt_and_verifies_only_its_password() -> None:
    first, second = hash_password("correct-horse"), hash_password("correct-horse")

    assert first.startswith("scrypt$16384$8$1$")
    assert first != second  # a fresh salt each time
    assert verify_password("correct-horse", first) and verify_password("correct-horse", second)
    assert not verify_password("correct-horsf", first)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "bcrypt$x",
        "scrypt$16384$8$1$!!$AAAA",
        "scrypt$1048577$8$1$AAAA$AAAA",
        "scrypt$3$8$1$AAAA$AAAA",
    ],
)
def test_a_malformed_or_too_costly_hash_is_refused(encoded: str) -> None:
    with pytest.raises(PasswordHashError):
        verify_password("anything", encoded)

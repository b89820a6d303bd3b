"""Service role names and URLs: apart per database, and nothing of the admin's left in them."""

from __future__ import annotations

from urllib.parse import urlsplit

from a4co.launcher.db_roles import ServiceRole, role_name


def test_a_role_is_named_for_its_database_and_schema() -> None:
    assert role_name("a4co", "order") == "a4co_order"
    assert role_name("test", "order") == "test_order"


def test_databases_whose_names_would_clash_or_not_fit_get_a_digest() -> None:
    odd = role_name("A4co-Prod", "order")
    long = role_name("d" * 63, "recommendation")
    reserved = role_name("pg_data", "order")

    assert odd != role_name("a4co_prod", "order")
    assert odd.startswith("a4co_a4co_prod_") and odd.endswith("_order")
    assert len(long) <= 63 and long.endswith("_recommendation")
    assert not reserved.startswith("pg_")


def test_a_role_url_keeps_the_server_and_drops_the_admins_credentials() -> None:
    role = ServiceRole("order", "a4co_order", "p123")
    socket = role.url("postgresql://postgres@/a4co?host=/tmp/pg%20sock&port=5433&user=postgres")
    tcp = role.url("postgresql://admin:secret@db.example:5432/a4co?sslmode=require")

    assert urlsplit(socket)[1:3] == ("a4co_order:p123@", "/a4co")
    assert urlsplit(socket).query == "host=/tmp/pg%20sock&port=5433"
    assert tcp == "postgresql://a4co_order:p123@db.example:5432/a4co?sslmode=require"


def test_a_role_shows_no_password_in_its_repr() -> None:
    assert "p123" not in repr(ServiceRole("order", "a4co_order", "p123"))

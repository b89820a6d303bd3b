"""A database role per service, on real PostgreSQL: it owns its schema and reaches no other.

The tests name their schemas apart (`order_<id>`, `payment_<id>`) and drop their roles at
the end, so they also run against a shared external server (`A4CO_DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from a4co.cli.status import outbox_backlog, sagas_by_step
from a4co.launcher import Platform
from a4co.launcher.db_roles import ROLES_FILE, ServiceRole, provision_roles, role_name
from runtime.errors import ConfigurationError
from runtime.eventstore.postgres import migrate
from tests.e2e.harness import serve_jwks


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the admin (the URL the platform is given)."""
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
async def schemas(admin: asyncpg.Connection, unique_id: str) -> AsyncIterator[tuple[str, str]]:
    """Two service schemas of the test's own; their roles and schemas go at the end."""
    names = (f"order_{unique_id}", f"payment_{unique_id}")
    yield names
    database = await admin.fetchval("SELECT current_database()")
    for schema in names:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await drop_role(admin, role_name(database, schema))


async def drop_role(admin: asyncpg.Connection, role: str) -> None:
    """Drop a role and what it owns or was granted, if it exists."""
    if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
        await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


async def connect(role: ServiceRole, database_url: str) -> asyncpg.Connection:
    """A connection as the service's role."""
    return await asyncpg.connect(role.url(database_url))


def verifies(verifier: str, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier is that of `password` (RFC 5802)."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return method == "SCRAM-SHA-256" and hmac.compare_digest(expected, stored_key)


async def test_each_role_owns_its_schema_and_may_only_log_in(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    roles = provision_roles(database_url, schemas, tmp_path)

    database = await admin.fetchval("SELECT current_database()")
    assert [(r.schema, r.role) for r in roles] == [
        (schema, f"{database}_{schema}") for schema in sorted(schemas)
    ]
    for role in roles:
        found = await admin.fetchrow(
            "SELECT r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,"
            " n.nspowner = r.oid AS owns, has_database_privilege(r.oid, $3, 'CONNECT') AS conn,"
            " has_database_privilege(r.oid, $3, 'CREATE') AS create"
            " FROM pg_roles r, pg_namespace n WHERE r.rolname = $1 AND n.nspname = $2",
            role.role,
            role.schema,
            database,
        )
        assert dict(found) == {
            "rolcanlogin": True,
            "rolsuper": False,
            "rolcreaterole": False,
            "rolcreatedb": False,
            "rolbypassrls": False,
            "owns": True,
            "conn": True,
            "create": False,
        }
        connection = await connect(role, database_url)
        assert await connection.fetchval("SELECT current_user") == role.role
        await connection.close()


async def test_passwords_are_kept_in_the_data_folder_for_the_owner_only(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    roles = provision_roles(database_url, schemas, tmp_path)

    path = tmp_path / ROLES_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for role in roles:
        assert role.password in path.read_text()
        stored = await admin.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role.role
        )
        assert verifies(stored, role.password)


async def test_the_order_role_cannot_read_a_payment_table(
    database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    order_schema, payment_schema = schemas
    roles = {r.schema: r for r in provision_roles(database_url, schemas, tmp_path)}
    payment = await connect(roles[payment_schema], database_url)
    await payment.execute(f'CREATE TABLE "{payment_schema}".payments (id int PRIMARY KEY)')
    order = await connect(roles[order_schema], database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await order.fetch(f'SELECT * FROM "{payment_schema}".payments')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await order.execute(f'INSERT INTO "{payment_schema}".payments VALUES (1)')
    finally:
        await order.close()
        await payment.close()


async def test_the_order_role_creates_tables_in_its_schema_only(
    database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    order_schema, payment_schema = schemas
    roles = {r.schema: r for r in provision_roles(database_url, schemas, tmp_path)}
    order = await connect(roles[order_schema], database_url)
    try:
        await order.execute(f'CREATE TABLE "{order_schema}".orders (id int)')
        for elsewhere in (f'"{payment_schema}".orders', "public.orders"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await order.execute(f"CREATE TABLE {elsewhere} (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await order.execute(f'CREATE SCHEMA "{order_schema}_more"')
    finally:
        await order.close()


async def test_the_order_role_cannot_become_another_role(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    order_schema, payment_schema = schemas
    roles = {r.schema: r for r in provision_roles(database_url, schemas, tmp_path)}
    admin_user = await admin.fetchval("SELECT current_user")
    order = await connect(roles[order_schema], database_url)
    try:
        for other in (roles[payment_schema].role, admin_user):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await order.execute(f'SET ROLE "{other}"')
    finally:
        await order.close()


async def test_a_second_start_reuses_the_passwords(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    first = provision_roles(database_url, schemas, tmp_path)
    second = provision_roles(database_url, schemas, tmp_path)

    assert [r.password for r in second] == [r.password for r in first]
    for role in second:
        stored = await admin.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role.role
        )
        assert verifies(stored, role.password)


async def test_schemas_an_earlier_start_made_as_the_admin_are_handed_to_the_roles(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    order_schema, _ = schemas
    await migrate(admin, order_schema)  # as services did before they had roles
    await admin.execute(f'CREATE TABLE "{order_schema}".views (id bigserial, v int)')
    await admin.execute(
        f'CREATE VIEW "{order_schema}".recent AS SELECT * FROM "{order_schema}".views'
    )

    roles = {r.schema: r for r in provision_roles(database_url, schemas, tmp_path)}

    role = roles[order_schema]
    owners = await admin.fetch(
        "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
        order_schema,
    )
    assert owners and {r["owner"] for r in owners} == {role.role}, owners
    order = await connect(role, database_url)
    try:
        await migrate(order, order_schema)  # the service's own start, now as its role
        await order.execute(f'INSERT INTO "{order_schema}".views (v) VALUES (1)')
        assert await order.fetchval(f'SELECT count(*) FROM "{order_schema}".recent') == 1
    finally:
        await order.close()


async def test_an_admin_that_cannot_make_roles_is_told_what_it_lacks(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    plain = await login_role(admin, f"plain_{schemas[0]}")
    try:
        with pytest.raises(
            ConfigurationError,
            match=f"user '{plain.role}'.*needs the CREATEROLE attribute, and CREATE and CONNECT",
        ) as caught:
            provision_roles(plain.url(database_url), schemas, tmp_path)
        assert plain.password not in str(caught.value)
    finally:
        await drop_role(admin, plain.role)


async def test_an_admin_with_createrole_but_no_superuser_makes_the_roles(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    operator = await login_role(admin, f"operator_{schemas[0]}", "CREATEROLE")
    database = await admin.fetchval("SELECT current_database()")
    # What a database's owner has; the test cannot give it the shared database.
    await admin.execute(
        f'GRANT CREATE, CONNECT ON DATABASE "{database}" TO "{operator.role}" WITH GRANT OPTION'
    )
    order_schema, payment_schema = schemas
    try:
        roles = {
            r.schema: r for r in provision_roles(operator.url(database_url), schemas, tmp_path)
        }

        owner = await admin.fetchval(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", order_schema
        )
        assert owner == roles[order_schema].role
        order = await connect(roles[order_schema], database_url)
        try:
            await order.execute(f'CREATE TABLE "{order_schema}".orders (id int)')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await order.execute(f'CREATE TABLE "{payment_schema}".orders (id int)')
        finally:
            await order.close()
    finally:
        await drop_role(admin, operator.role)


async def test_a_role_of_another_application_is_not_taken_over(
    admin: asyncpg.Connection, database_url: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    database = await admin.fetchval("SELECT current_database()")
    theirs = role_name(database, schemas[0])
    await admin.execute(f'CREATE ROLE "{theirs}"')

    with pytest.raises(ConfigurationError, match=f"already has a role '{theirs}'"):
        provision_roles(database_url, schemas, tmp_path)

    assert (
        await admin.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", theirs) is False
    )


async def login_role(admin: asyncpg.Connection, name: str, *options: str) -> ServiceRole:
    """A login role with CONNECT on the database (and `options`), as the admin makes one."""
    role = ServiceRole("-", name, f"p{name}")
    database = await admin.fetchval("SELECT current_database()")
    await admin.execute(
        f"CREATE ROLE \"{name}\" LOGIN {' '.join(options)} PASSWORD '{role.password}'"
    )
    await admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"')
    return role


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder outside pytest's temp root (embedded PostgreSQL's user must enter it)."""
    folder = Path(tempfile.mkdtemp(prefix="a4co-roles-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
async def test_services_run_as_their_own_roles(data_dir: Path) -> None:
    async with serve_jwks() as jwks_url:
        # The database is A4CO_DATABASE_URL's when set, else embedded; NATS and Redis embedded.
        env = {"A4CO_NATS_URL": "", "A4CO_REDIS_URL": "", "A4CO_JWKS_URL": jwks_url}
        platform = Platform(["order", "payment"], data_dir=data_dir, env=env)
        await asyncio.to_thread(platform.start)
        try:
            admin_url = platform.infra.database_url or ""
            order_url = platform.database_url("order")
            order_pid = platform.pid("order")
            environ = Path(f"/proc/{order_pid}/environ").read_bytes().split(b"\0")
            assert f"A4CO_DATABASE_URL={order_url}".encode() in environ
            assert not any(admin_url.encode() in variable for variable in environ)

            admin = await asyncpg.connect(admin_url)
            order = await asyncpg.connect(order_url)
            try:
                database = await admin.fetchval("SELECT current_database()")
                users = await admin.fetch(
                    "SELECT DISTINCT usename FROM pg_stat_activity"
                    " WHERE application_name = 'a4co-order' AND datname = $1",
                    database,
                )
                assert f"{database}_order" in {row["usename"] for row in users}
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await order.fetch("SELECT * FROM payment.payments")
                # `a4co status` reads every service's schema with the admin URL.
                assert {"order", "payment"} <= set(await outbox_backlog(admin))
                await sagas_by_step(admin)
            finally:
                await order.close()
                await admin.close()
        finally:
            await asyncio.to_thread(platform.stop)

"""A PostgreSQL role per service: it owns its schema and can read no other service's tables.

Before the services start, the launcher connects with the admin URL (`A4CO_DATABASE_URL`, or
the embedded server's superuser) and makes, for each service schema `<s>` of the database
`<db>`, a LOGIN role `<db>_<s>` (`a4co_order`; roles are the whole server's, so a platform
on another database of the same server has roles of its own). The role owns the schema and
every table already in it, has CONNECT on the database and nothing else: PUBLIC loses
CONNECT on the database, CREATE on `public` and any right on the service schemas. A role of
that name the platform did not make (its comment marks its own) is never taken over.

Passwords are made at the first start and kept in `<data_dir>/postgres-roles.json` (mode
0600); the server is sent only their SCRAM verifiers. Each service process connects with its
role's URL; the admin URL stays with the launcher and the `a4co` command. An external
server's admin must be a superuser, or have CREATEROLE and own the database (or hold CREATE
and CONNECT WITH GRANT OPTION on it); else the start fails naming what it lacks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from a4co.infra.base import redact
from a4co.launcher.passwords import new_password, read_passwords, write_passwords
from runtime.errors import ConfigurationError, InfraError
from runtime.eventstore.postgres import checked_schema

__all__ = ["ROLES_FILE", "ServiceRole", "provision_roles", "role_name", "scram_verifier"]

ROLES_FILE = "postgres-roles.json"
_MAX_NAME = 63  # PostgreSQL's NAMEDATALEN - 1
_SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations
_RELATION_KINDS = {
    "r": "TABLE",
    "p": "TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "f": "FOREIGN TABLE",
    "S": "SEQUENCE",
}


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """A service schema's role and its password."""

    schema: str
    role: str
    password: str = field(repr=False)

    def url(self, admin_url: str) -> str:
        """`admin_url` with this role's user and password instead of the admin's."""
        parts = urlsplit(admin_url)
        host = parts.netloc.rsplit("@", 1)[-1]
        netloc = f"{quote(self.role, safe='')}:{quote(self.password, safe='')}@{host}"
        query = "&".join(  # as written: only the admin's credentials go
            pair
            for pair in parts.query.split("&")
            if pair and pair.split("=", 1)[0] not in ("user", "password", "passfile")
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query))


def role_name(database: str, schema: str) -> str:
    """`a4co_order` for the schema `order` of the database `a4co`.

    A database name that is not plain lower-case (or too long to fit) is shortened and
    followed by a digest of itself, so two databases never share a role.
    """
    prefix = re.sub(r"[^a-z0-9_]", "_", database.lower())
    name = f"{prefix}_{schema}"
    if prefix != database or len(name) > _MAX_NAME or name.startswith("pg_"):
        digest = hashlib.sha256(database.encode()).hexdigest()[:8]
        keep = _MAX_NAME - len(schema) - len(digest) - 7
        name = f"a4co_{prefix[:keep]}_{digest}_{schema}"
    return name


def provision_roles(admin_url: str, schemas: Iterable[str], data_dir: Path) -> list[ServiceRole]:
    """Make or update every schema's role, schema and grants; return the roles."""
    wanted = sorted({checked_schema(schema) for schema in schemas})
    with ThreadPoolExecutor(max_workers=1) as pool:  # works whether or not a loop runs here
        return pool.submit(asyncio.run, _provision(admin_url, wanted, data_dir)).result()


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, 7677)."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    stored = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored).decode()}:{b64(server).decode()}"
    )


async def _provision(admin_url: str, schemas: list[str], data_dir: Path) -> list[ServiceRole]:
    try:
        connection = await asyncpg.connect(admin_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise InfraError(f"could not connect to PostgreSQL at {redact(admin_url)}: {exc}") from exc
    try:
        admin = await connection.fetchrow(
            "SELECT current_user AS name, current_database() AS database, r.rolsuper AS super,"
            " r.rolcreaterole AS createrole, d.datdba = r.oid AS owner,"
            " has_database_privilege(d.oid, 'CREATE') AS create,"
            " has_database_privilege(d.oid, 'CONNECT WITH GRANT OPTION') AS grant_connect"
            " FROM pg_roles r, pg_database d"
            " WHERE r.rolname = current_user AND d.datname = current_database()"
        )
        _check_admin(admin, admin_url)
        path = data_dir / ROLES_FILE
        known = read_passwords(path, "role names")
        roles = [
            ServiceRole(schema, role, known.get(role) or new_password())
            for schema in schemas
            for role in [role_name(admin["database"], schema)]
        ]
        passwords = {**known, **{r.role: r.password for r in roles}}
        if passwords != known:
            write_passwords(path, passwords)
        async with connection.transaction():
            await connection.execute("SET LOCAL lock_timeout = '10s'")
            # Two platforms starting on one database would race on the same roles.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext('a4co.roles.' || current_database()))"
            )
            for role in roles:
                await _ensure_role(connection, role, admin)
            await _harden(connection, roles, admin)
    except asyncpg.PostgresError as exc:
        raise InfraError(
            f"could not set up the services' roles in {redact(admin_url)}: {exc}"
        ) from exc
    finally:
        await connection.close()
    return roles


def _check_admin(admin: Any, admin_url: str) -> None:
    """Fail with what the admin user lacks, before anything changes."""
    missing = []
    if not (admin["super"] or admin["createrole"]):
        missing.append("the CREATEROLE attribute")
    privileges = [
        name
        for name, held in (
            ("CREATE", admin["create"]),
            ("CONNECT WITH GRANT OPTION", admin["grant_connect"]),
        )
        if not held
    ]
    if privileges:
        missing.append(
            f"{' and '.join(privileges)} on the database {admin['database']!r} (its owner has them)"
        )
    if missing:
        raise ConfigurationError(
            f"the user {admin['name']!r} of A4CO_DATABASE_URL={redact(admin_url)} needs "
            f"{', and '.join(missing)},"
            " or to be a superuser: the platform makes a role for each service with it"
        )


async def _ensure_role(connection: Any, role: ServiceRole, admin: Any) -> None:
    """The role with the file's password and CONNECT, then its schema."""
    marker = f"a4co service role of the schema {role.schema} in the database {admin['database']}"
    found = await connection.fetchrow(
        "SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
        role.role,
    )
    if found is None:
        await _run(connection, "CREATE ROLE %I LOGIN", role.role)
        await _run(connection, "COMMENT ON ROLE %I IS %L", role.role, marker)
    elif found["comment"] != marker:
        raise ConfigurationError(
            f"PostgreSQL already has a role {role.role!r} that is not the a4co role of the "
            f"{role.schema} schema in {admin['database']!r} (its comment: {found['comment']!r});"
            " rename or drop it, or use another database name"
        )
    await _run(
        connection, "ALTER ROLE %I LOGIN PASSWORD %L", role.role, scram_verifier(role.password)
    )
    await _run(connection, "GRANT CONNECT ON DATABASE %I TO %I", admin["database"], role.role)
    if not admin["super"]:  # a CREATEROLE admin may give a schema only to a role it can become
        await _run(connection, "GRANT %I TO CURRENT_USER", role.role)
    await _hand_over_schema(connection, role)


async def _hand_over_schema(connection: Any, role: ServiceRole) -> None:
    """The role's schema, made or given to it, with every table already in it."""
    owner = await connection.fetchval(
        "SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
        " WHERE n.nspname = $1",
        role.schema,
    )
    if owner is None:
        await _run(connection, "CREATE SCHEMA %I AUTHORIZATION %I", role.schema, role.role)
    elif owner != role.role:
        await _run(connection, "ALTER SCHEMA %I OWNER TO %I", role.schema, role.role)
    # Tables an earlier start made as the admin (a data folder from before the roles).
    rows = await connection.fetch(
        "SELECT c.relname, c.relkind::text FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind::text = ANY($2::text[])"
        " AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $3)"
        # A serial or identity column's sequence changes owner with its table, and only so.
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype IN ('a', 'i'))",
        role.schema,
        list(_RELATION_KINDS),
        role.role,
    )
    for row in rows:
        await _run(
            connection,
            f"ALTER {_RELATION_KINDS[row['relkind']]} %I.%I OWNER TO %I",
            role.schema,
            row["relname"],
            role.role,
        )


async def _harden(connection: Any, roles: list[ServiceRole], admin: Any) -> None:
    """Take from PUBLIC what would let one service's role reach past its own schema."""
    for role in roles:
        await _run(connection, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", role.schema)
    if not (admin["super"] or admin["owner"]):
        return  # only the owner's revokes take effect; the operator hardens the rest
    # The roles have CONNECT of their own; the admin keeps its rights as owner or superuser.
    await _run(connection, "REVOKE CONNECT ON DATABASE %I FROM PUBLIC", admin["database"])
    if await connection.fetchval("SELECT to_regnamespace('public') IS NOT NULL"):
        await connection.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # PG < 15


async def _run(connection: Any, template: str, *args: str) -> None:
    """Run a statement whose identifiers (%I) and literals (%L) the server quotes."""
    await connection.execute(
        await connection.fetchval("SELECT format($1, VARIADIC $2::text[])", template, list(args))
    )

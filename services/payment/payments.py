"""Payment's tables: the payments read model and the artisans' tiers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.payment.models import Payment
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import Statement, checked_schema, connection_of, write_together
from services.payment.domain import Tier

__all__ = ["PaymentTables"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.payments (
    payment_id uuid PRIMARY KEY, order_id uuid NOT NULL UNIQUE, customer_id uuid NOT NULL,
    status text NOT NULL, amount_minor bigint NOT NULL, failure_reason text, splits jsonb,
    updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.artisan_tiers (artisan_id uuid PRIMARY KEY, tier text NOT NULL);
ALTER TABLE {s}.artisan_tiers
    ADD COLUMN IF NOT EXISTS since timestamptz NOT NULL DEFAULT '-infinity';
"""


class PaymentTables:
    """SQL of the payments read model and the tier table, in one schema (the service's own,
    `payment`)."""

    def __init__(self, schema: str = "payment") -> None:
        self._s = f'"{checked_schema(schema)}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing."""
        await connection.execute(_DDL.format(s=self._s))

    async def save(self, tx: Transaction, payment: Payment) -> None:
        """Insert or replace the payment's row, in the statement that appends what the
        transaction's sinks hold back (`write_together`): send the messages first."""
        splits = (
            json.dumps([s.model_dump(mode="json") for s in payment.splits])
            if payment.splits
            else None
        )
        await write_together(
            tx,
            [
                Statement(
                    f"INSERT INTO {self._s}.payments VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb,"
                    " $8) ON CONFLICT (payment_id) DO UPDATE SET status = $4,"
                    " failure_reason = $6, splits = $7::jsonb, updated_at = $8",
                    (
                        payment.payment_id,
                        payment.order_id,
                        payment.customer_id,
                        payment.status,
                        payment.amount.amount_minor,
                        payment.failure_reason,
                        splits,
                        payment.updated_at,
                    ),
                )
            ],
        )

    async def by_order(self, tx: Transaction, order_id: UUID) -> Payment | None:
        """The order's payment, locked for update."""
        row = await connection_of(tx).fetchrow(
            f"SELECT * FROM {self._s}.payments WHERE order_id = $1 FOR UPDATE", order_id
        )
        return _payment(row) if row else None

    async def claim(
        self, tx: Transaction, payment: Payment, artisan_ids: list[UUID]
    ) -> dict[UUID, Tier] | None:
        """Record the order's payment as initiated, unless the order has one (then None),
        and read the tiers of its artisans: one statement.

        A concurrent claim of the same order (a copy of the command under another message
        id) waits for this transaction and then finds the row, so an order is charged once.
        """
        rows = await connection_of(tx).fetch(
            f"WITH claim AS (INSERT INTO {self._s}.payments"
            " VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)"
            " ON CONFLICT (order_id) DO NOTHING RETURNING payment_id)"
            " SELECT (SELECT count(*) FROM claim) AS claimed, t.artisan_id, t.tier"
            f" FROM (SELECT 1) AS one LEFT JOIN {self._s}.artisan_tiers AS t"
            " ON t.artisan_id = ANY($7::uuid[])",
            payment.payment_id,
            payment.order_id,
            payment.customer_id,
            payment.status,
            payment.amount.amount_minor,
            payment.updated_at,
            artisan_ids,
        )
        if not rows[0]["claimed"]:
            return None
        return {r["artisan_id"]: r["tier"] for r in rows if r["artisan_id"] is not None}

    async def get(self, tx: Transaction, payment_id: UUID) -> Payment | None:
        """One payment."""
        row = await connection_of(tx).fetchrow(
            f"SELECT * FROM {self._s}.payments WHERE payment_id = $1", payment_id
        )
        return _payment(row) if row else None

    async def set_tier(self, tx: Transaction, artisan_id: UUID, tier: str, since: datetime) -> None:
        """Remember an artisan's tier as of `since`; an older fact never replaces a newer one."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.artisan_tiers (artisan_id, tier, since) VALUES ($1, $2, $3)"
            " ON CONFLICT (artisan_id) DO UPDATE SET tier = $2, since = $3"
            f" WHERE {self._s}.artisan_tiers.since < $3",
            artisan_id,
            tier,
            since,
        )


def _payment(row: Any) -> Payment:
    return Payment.model_validate(
        {
            "payment_id": row["payment_id"],
            "order_id": row["order_id"],
            "customer_id": row["customer_id"],
            "status": row["status"],
            "amount": {"amount_minor": row["amount_minor"], "currency": "EUR"},
            **({"failure_reason": row["failure_reason"]} if row["failure_reason"] else {}),
            **({"splits": json.loads(row["splits"])} if row["splits"] else {}),
            "updated_at": row["updated_at"],
        }
    )

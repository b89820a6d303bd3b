"""The loyalty service's tables and the write side of an account.

`accounts` holds each user's balance and tier, with the version of their `loyalty-<id>`
stream, to which PointsAwarded and LoyaltyTierChanged are appended in the same
transaction (the outbox publishes them). `awards` records each order rewarded, so an
order earns points once even if OrderDelivered came twice under different ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.loyalty.events import Publisher
from generated.loyalty.models import LoyaltyTierChanged, PointsAwarded
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of
from runtime.outbox.sink import StreamSink
from services.loyalty.domain import Tier, points_for, tier_of

__all__ = ["Account", "Accounts", "stream_of"]

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".accounts (
    user_id uuid PRIMARY KEY, balance integer NOT NULL, tier text NOT NULL,
    updated_at timestamptz NOT NULL, version integer NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".awards (
    order_id uuid PRIMARY KEY, user_id uuid NOT NULL, points integer NOT NULL,
    awarded_at timestamptz NOT NULL);
"""


def stream_of(user_id: UUID) -> str:
    """The event stream of one account."""
    return f"loyalty-{user_id}"


@dataclass(frozen=True, slots=True)
class Account:
    """A user's balance and tier, and the version of their stream."""

    user_id: UUID
    balance: int
    tier: Tier
    updated_at: datetime
    version: int


class Accounts:
    """Opens accounts and awards points; every method runs in the caller's transaction."""

    def __init__(self, schema: str) -> None:
        self._s = f'"{schema}"'
        self.schema = schema

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing (the host holds the migration lock)."""
        await connection.execute(_DDL.format(s=self.schema))

    async def get(self, tx: Transaction, user_id: UUID, *, lock: bool = False) -> Account | None:
        """One account; `lock` holds its row until the transaction ends."""
        row = await connection_of(tx).fetchrow(
            f"SELECT * FROM {self._s}.accounts WHERE user_id = $1"
            + (" FOR UPDATE" if lock else ""),
            user_id,
        )
        return Account(**dict(row)) if row else None

    async def open(self, tx: Transaction, user_id: UUID, now: datetime) -> Account:
        """The user's account, opened (bronze, 0 points) if it did not exist; locked."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.accounts VALUES ($1, 0, 'bronze', $2, 0)"
            " ON CONFLICT (user_id) DO NOTHING",
            user_id,
            now,
        )
        account = await self.get(tx, user_id, lock=True)
        assert account is not None
        return account

    async def award(
        self,
        tx: Transaction,
        *,
        user_id: UUID,
        order_id: UUID,
        total_minor: int,
        now: datetime,
        cause: MessageContext,
    ) -> Account | None:
        """Add the order's points once, announcing them and any tier change; None if seen."""
        points = points_for(total_minor)
        first = await connection_of(tx).fetchval(
            f"INSERT INTO {self._s}.awards VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (order_id) DO NOTHING RETURNING true",
            order_id,
            user_id,
            points,
            now,
        )
        if not first or points == 0:
            return None
        before = await self.open(tx, user_id, now)
        balance = before.balance + points
        sink = StreamSink(tx, stream_of(user_id), before.version)
        publisher = Publisher(sink)
        await publisher.points_awarded(
            PointsAwarded(
                user_id=user_id, order_id=order_id, points=points, balance=balance, awarded_at=now
            ),
            aggregate_id=str(user_id),
            cause=cause,
        )
        tier = tier_of(balance)
        if tier != before.tier:
            await publisher.loyalty_tier_changed(
                LoyaltyTierChanged(
                    user_id=user_id,
                    from_tier=before.tier,
                    to_tier=tier,
                    balance=balance,
                    changed_at=now,
                ),
                aggregate_id=str(user_id),
                cause=cause,
            )
        after = Account(user_id, balance, tier, now, sink.version)
        await connection_of(tx).execute(
            f"UPDATE {self._s}.accounts SET balance = $2, tier = $3, updated_at = $4,"
            " version = $5 WHERE user_id = $1",
            user_id,
            balance,
            tier,
            now,
            sink.version,
        )
        return after

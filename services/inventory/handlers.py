"""Inventory's command and event handlers, and the expiry of reservations."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from uuid import UUID
from weakref import WeakKeyDictionary

from generated.inventory.events import Publisher
from generated.inventory.models import (
    CommitStock,
    NewProductListed,
    ReleaseStock,
    ReserveStock,
    StockLine,
    StockReleased,
    StockReservationFailed,
    StockReserved,
    UnavailableLine,
)
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.inventory.domain import Stock, reserve_all
from services.inventory.stock import Change, StockTables, reservation_id_of

__all__ = ["InventoryHandlers"]

_COMMITS: WeakKeyDictionary[Transaction, dict[UUID, MessageContext]] = WeakKeyDictionary()
"""The orders whose CommitStock each open transaction holds, with each one's message."""


class InventoryHandlers:
    """Implements `generated.inventory.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, tables: StockTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def _reservation_publisher(self, tx: Transaction, order_id: UUID) -> Publisher:
        stream = f"reservation-{order_id}"
        return Publisher(await StreamSink.at_end(tx, stream))

    async def reserve_stock(self, message: ReserveStock, context: MessageContext) -> None:
        """Reserve every line of the order, or none, and say which."""
        async with self._ctx.handling(context, "reserve_stock") as tx:
            now, order_id = self._ctx.clock(), message.order_id
            lines = [(line.product_id, line.quantity) for line in message.items]
            if tx is None or not await self._tables.claim(tx, order_id, lines, message.expires_at):
                return  # handled, or the order has its reservation already
            locked = await self._tables.lock(tx, [p for p, _ in lines])
            stocks: dict[UUID, Stock | None] = {
                p: locked[p][0] if p in locked else None for p, _ in lines
            }
            changed, shortages = reserve_all(stocks, lines)
            publisher = await self._reservation_publisher(tx, order_id)
            if shortages:
                unknown = any(s.product_id not in locked for s in shortages)
                await publisher.stock_reservation_failed(
                    StockReservationFailed(
                        order_id=order_id,
                        reason="unknown_product" if unknown else "out_of_stock",
                        unavailable=[
                            UnavailableLine(
                                product_id=s.product_id,
                                requested=s.requested,
                                available=s.available,
                            )
                            for s in shortages
                        ],
                    ),
                    aggregate_id=str(order_id),
                    cause=context,
                )
                await self._tables.settle(tx, order_id, "failed")
                return
            await publisher.stock_reserved(
                StockReserved(
                    order_id=order_id,
                    reservation_id=reservation_id_of(order_id),
                    items=[StockLine(product_id=p, quantity=q) for p, q in lines],
                    expires_at=message.expires_at,
                ),
                aggregate_id=str(order_id),
                cause=context,
            )
            # Sent first: it is appended in the statement that writes the stock rows.
            await self._tables.save_all(
                tx,
                [
                    Change(locked[p][0], after, locked[p][1], context)
                    for p, after in sorted(changed.items())
                ],
                now=now,
            )

    async def release_stock(self, message: ReleaseStock, context: MessageContext) -> None:
        """Give the order's units back; always answer, even when nothing was held."""
        async with self._ctx.handling(context, "release_stock") as tx:
            if tx is not None:
                await self._release(
                    tx, message.order_id, message.reason, now=self._ctx.clock(), cause=context
                )

    async def _release(
        self,
        tx: Transaction,
        order_id: UUID,
        reason: str,
        *,
        now: datetime,
        cause: MessageContext | None,
    ) -> None:
        reservation = await self._tables.settle(tx, order_id, "released")
        released = reservation.items if reservation is not None else []
        publisher = await self._reservation_publisher(tx, order_id)
        await publisher.stock_released(
            StockReleased.model_validate(
                {
                    "order_id": order_id,
                    "reservation_id": reservation_id_of(order_id),
                    "items": [{"product_id": p, "quantity": q} for p, q in released],
                    "reason": reason,
                }
            ),
            aggregate_id=str(order_id),
            cause=cause,
        )
        if reservation is not None:  # appended with the rows it gives back
            locked = await self._tables.lock(tx, [p for p, _ in released])
            await self._tables.save_all(
                tx,
                [
                    Change(locked[p][0], locked[p][0].release(quantity), locked[p][1], cause)
                    for p, quantity in sorted(_totals(released).items())
                ],
                now=now,
            )

    async def commit_stock(self, message: CommitStock, context: MessageContext) -> None:
        """The order is paid: its reserved units leave the shelf.

        The commit is held to the end of the transaction (`_commit_held`), so a unit of
        many CommitStock (the consumer takes them in batches: a sale is not waited for)
        settles their reservations in one statement and records one StockAdjusted per
        product, whatever the number of orders.
        """
        async with self._ctx.handling(context, "commit_stock") as tx:
            if tx is None:
                return
            held = _COMMITS.get(tx)
            if held is None:
                held = _COMMITS[tx] = {}
                tx.buffer(partial(self._commit_held, tx))
            held.setdefault(message.order_id, context)

    async def _commit_held(self, tx: Transaction) -> None:
        """Commit the reservations of the orders held in `tx`: the units of each product
        summed, the products locked in one statement, one StockAdjusted each (caused by
        the first order, in id order, that sold it)."""
        held = _COMMITS.pop(tx, None)
        if not held:
            return
        totals: dict[UUID, int] = {}
        causes: dict[UUID, MessageContext] = {}
        for reservation in await self._tables.settle_all(tx, list(held), "committed"):
            for product_id, quantity in reservation.items:
                totals[product_id] = totals.get(product_id, 0) + quantity
                causes.setdefault(product_id, held[reservation.order_id])
        if not totals:
            return  # nothing held: absent, or released or committed already
        locked = await self._tables.lock(tx, list(totals))
        await self._tables.save_all(
            tx,
            [
                Change(locked[p][0], locked[p][0].commit(quantity), locked[p][1], causes[p])
                for p, quantity in sorted(totals.items())
            ],
            now=self._ctx.clock(),
        )

    async def on_new_product_listed(
        self, message: NewProductListed, context: MessageContext
    ) -> None:
        """A new product starts with its initial stock and threshold."""
        async with self._ctx.handling(context, "on_new_product_listed") as tx:
            if tx is None or await self._tables.row(tx, message.product_id) is not None:
                return
            stock = Stock(
                message.product_id,
                message.artisan_id,
                message.initial_stock,
                message.stock_threshold,
            )
            await self._tables.save(tx, None, stock, 0, now=self._ctx.clock(), cause=context)

    async def expire_reservations(self, *, limit: int = 100) -> int:
        """Release held reservations whose 15 minutes are over; return how many."""
        async with self._ctx.transaction() as tx:
            now = self._ctx.clock()
            expired = await self._tables.expired(tx, now, limit)
            for order_id in expired:
                await self._release(tx, order_id, "reservation_expired", now=now, cause=None)
        return len(expired)


def _totals(items: list[tuple[UUID, int]]) -> dict[UUID, int]:
    out: dict[UUID, int] = {}
    for product_id, quantity in items:
        out[product_id] = out.get(product_id, 0) + quantity
    return out

"""The analytics service's REST API: the dashboard and orders per day (admins only).

The generated router lets only admins in (`x-roles: [admin]`); these methods only read.
"""

from __future__ import annotations

from datetime import date

from generated.analytics.models import (
    AnalyticsDailyOrders,
    AnalyticsDashboard,
    AnalyticsOrdersPerDay,
    AnalyticsTopProduct,
    Money,
)
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.analytics.domain import (
    IntervalError,
    conversion_bp,
    daily_series,
    day_of,
    interval_days,
)
from services.analytics.kpis import Kpis
from services.analytics.watermarks import Watermarks

__all__ = ["AnalyticsApi"]


def _eur(amount_minor: int) -> Money:
    return Money(amount_minor=amount_minor, currency="EUR")


class AnalyticsApi:
    """Implements `generated.analytics.api.Api`."""

    def __init__(self, ctx: ServiceContext, kpis: Kpis, watermarks: Watermarks) -> None:
        self._ctx = ctx
        self._kpis = kpis
        self._watermarks = watermarks

    async def get_dashboard(self, principal: Principal) -> AnalyticsDashboard:
        """Today's (Europe/Madrid) figures from the read models."""
        now = self._ctx.clock()
        async with self._ctx.transaction() as tx:
            kpis = await self._kpis.day(tx, day_of(now))
        return AnalyticsDashboard(
            orders_today=kpis.orders,
            revenue=_eur(max(0, kpis.revenue_minor)),
            top_products=[
                AnalyticsTopProduct(
                    product_id=p.product_id,
                    name=p.name or f"Product {p.product_id}",
                    units_sold=p.units,
                    revenue=_eur(p.revenue_minor),
                )
                for p in kpis.top_products
            ],
            conversion_rate_bp=conversion_bp(kpis.visitors, kpis.converted),
            visitors_today=kpis.visitors,
            registrations_today=kpis.registrations,
            verified_artisans=kpis.verified_artisans,
            as_of=max((t for t in (kpis.as_of, self._watermarks.latest()) if t), default=now),
        )

    async def get_orders_per_day(
        self, principal: Principal, *, from_: date, to: date
    ) -> AnalyticsOrdersPerDay:
        """One entry per day of `from_`..`to`, zeros included."""
        try:
            interval_days(from_, to)
        except IntervalError as exc:
            raise ProblemError(422, "Unprocessable Content", str(exc)) from exc
        async with self._ctx.transaction() as tx:
            orders = await self._kpis.orders_by_day(tx, from_, to)
            revenue = await self._kpis.revenue_by_day(tx, from_, to)
        return AnalyticsOrdersPerDay(
            from_date=from_,
            to_date=to,
            days=[
                AnalyticsDailyOrders(date=d.day, orders=d.orders, revenue=_eur(d.revenue_minor))
                for d in daily_series(from_, to, orders, revenue)
            ],
        )

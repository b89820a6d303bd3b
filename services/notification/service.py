"""The notification service's composition root: tables, channel adapters, live feed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter

from generated.notification.api import build_router
from generated.notification.events import SUBSCRIPTIONS
from runtime.errors import ConfigurationError
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.notification.api import NotificationApi
from services.notification.channels import ChannelAdapter, DevOutboxAdapter, development_adapters
from services.notification.handlers import NotificationHandlers
from services.notification.live import DEFAULT_HEARTBEAT, LiveFeed
from services.notification.notifier import Notifier
from services.notification.tables import NotificationTables

__all__ = ["NAME", "definition", "feed_of"]

NAME = "notification"
_FEED = "notification.live_feed"

AdapterFactory = Callable[[NotificationTables], Sequence[ChannelAdapter]]


def feed_of(ctx: ServiceContext, *, heartbeat: float = DEFAULT_HEARTBEAT) -> LiveFeed:
    """The live feed of one running service (each replica has its own), made on first use."""
    feed = ctx.extras.get(_FEED)
    if isinstance(feed, LiveFeed):
        return feed
    if not ctx.settings.redis_url:
        raise ConfigurationError(
            "the notification service needs A4CO_REDIS_URL: its live stream reaches clients of "
            "every replica through Redis pub/sub; `make run` sets it"
        )
    feed = LiveFeed(ctx.settings.redis_url, heartbeat=heartbeat)
    ctx.extras[_FEED] = feed
    ctx.on_stop(feed.close)
    return feed


def definition(
    *, adapters: AdapterFactory = development_adapters, heartbeat: float = DEFAULT_HEARTBEAT
) -> ServiceDefinition:
    """Notification: event handlers, the REST API, and the live feed's Redis listener."""
    tables = NotificationTables(NAME)
    chosen = adapters(tables)
    dev_outbox = any(isinstance(a, DevOutboxAdapter) for a in chosen)

    def handlers(ctx: ServiceContext) -> NotificationHandlers:
        feed = feed_of(ctx, heartbeat=heartbeat)
        return NotificationHandlers(ctx, tables, Notifier(tables, chosen, feed), feed)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        feed = feed_of(ctx, heartbeat=heartbeat)
        return [build_router(NotificationApi(ctx, tables, feed, dev_outbox=dev_outbox))]

    def jobs(ctx: ServiceContext, _handlers: object) -> Sequence[Job]:
        return [Job("notification live feed", 0.5, feed_of(ctx, heartbeat=heartbeat).listen)]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=handlers,
        routers=routers,
        migrate=tables.migrate,
        jobs=jobs,
    )

"""The cms service's REST API: public reads, and publishing by admins."""

from __future__ import annotations

import uuid
from typing import Literal

from generated.cms.events import Publisher
from generated.cms.models import CmsPage, CmsPageList, PagePublished, PublishPageRequest
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.cms.domain import revision
from services.cms.pages import PageTables, stream_of

__all__ = ["CmsApi"]


class CmsApi:
    """Implements `generated.cms.api.Api`."""

    def __init__(self, ctx: ServiceContext, pages: PageTables) -> None:
        self._ctx = ctx
        self._pages = pages

    async def list_pages(
        self,
        *,
        locale: Literal["es", "en"] | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> CmsPageList:
        """Published pages without their bodies, newest first."""
        async with self._ctx.transaction() as tx:
            return await self._pages.page(tx, locale, limit, cursor)

    async def get_page(self, slug: str) -> CmsPage:
        """One published page, with its body."""
        async with self._ctx.transaction() as tx:
            page = await self._pages.get(tx, slug)
        if page is None:
            raise ProblemError(404, "Not Found", f"No page {slug}.")
        return page

    async def publish_page(
        self, principal: Principal, slug: str, body: PublishPageRequest
    ) -> CmsPage:
        """Store a new version of the page and record PagePublished with it (the outbox)."""
        now = self._ctx.clock()
        async with self._ctx.transaction() as tx:
            stored = await self._pages.lock(tx, slug)
            version = stored.version if stored else 0
            page = revision(
                stored.page if stored else None, body, new_id=uuid.uuid4(), slug=slug, now=now
            )
            sink = StreamSink(tx, stream_of(page.page_id), version)
            await Publisher(sink).page_published(
                PagePublished(
                    page_id=page.page_id,
                    slug=slug,
                    title=page.title,
                    locale=page.locale,
                    published_at=now,
                ),
                aggregate_id=str(page.page_id),
            )
            await self._pages.store(tx, page, version=sink.version, published_by=principal.subject)
        return page

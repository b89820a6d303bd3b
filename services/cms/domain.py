"""The rule of a publish: a page keeps its id, is published now, and counts as updated only
when its title, locale or body changed (republishing the same content refreshes nothing else).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from generated.cms.models import CmsPage, PublishPageRequest

__all__ = ["revision"]


def revision(
    previous: CmsPage | None, body: PublishPageRequest, *, new_id: UUID, slug: str, now: datetime
) -> CmsPage:
    """The page as published at `now` from `body`, replacing `previous` (None if new)."""
    if previous is None:
        return CmsPage(
            page_id=new_id,
            slug=slug,
            title=body.title,
            locale=body.locale,
            body=body.body,
            published_at=now,
            updated_at=now,
        )
    same = (previous.title, previous.locale, previous.body) == (body.title, body.locale, body.body)
    return previous.model_copy(
        update={
            "title": body.title,
            "locale": body.locale,
            "body": body.body,
            "published_at": now,
            "updated_at": previous.updated_at if same else now,
        }
    )

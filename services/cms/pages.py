"""The cms service's own tables: the current page per slug and every version published.

`pages` holds what readers see; `page_versions` keeps each publish (who, when, what), so a
page's history survives its replacement. Each page's PagePublished events go to its
`page-<id>` stream, whose version is the page's version, so the outbox publishes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.cms.models import CmsPage, CmsPageList, CmsPageSummary
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of
from runtime.http import ProblemError

__all__ = ["PageTables", "StoredPage", "stream_of"]

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".pages (
    slug text PRIMARY KEY, page_id uuid NOT NULL UNIQUE, title text NOT NULL,
    locale text NOT NULL, body text NOT NULL, version integer NOT NULL,
    published_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS pages_published ON "{s}".pages (published_at DESC, page_id DESC);
CREATE TABLE IF NOT EXISTS "{s}".page_versions (
    page_id uuid NOT NULL, version integer NOT NULL, title text NOT NULL, locale text NOT NULL,
    body text NOT NULL, published_by uuid NOT NULL, published_at timestamptz NOT NULL,
    PRIMARY KEY (page_id, version));
"""

_COLUMNS = "page_id, slug, title, locale, body, published_at, updated_at"


def stream_of(page_id: UUID) -> str:
    """The event stream of one page."""
    return f"page-{page_id}"


@dataclass(frozen=True, slots=True)
class StoredPage:
    """A page's current row, locked for this transaction, and its version."""

    page: CmsPage
    version: int


class PageTables:
    """SQL of the cms service's tables in its own schema."""

    def __init__(self, schema: str = "cms") -> None:
        self._schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing."""
        await connection.execute(_DDL.format(s=self._schema))

    async def get(self, tx: Transaction, slug: str) -> CmsPage | None:
        """The published page under `slug`."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS} FROM {self._s}.pages WHERE slug = $1", slug
        )
        return CmsPage.model_validate(dict(row)) if row else None

    async def lock(self, tx: Transaction, slug: str) -> StoredPage | None:
        """The page under `slug`, locked; publishers of one slug queue here (new ones too)."""
        connection = connection_of(tx)
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.cms.{slug}")
        row = await connection.fetchrow(
            f"SELECT {_COLUMNS}, version FROM {self._s}.pages WHERE slug = $1 FOR UPDATE", slug
        )
        if row is None:
            return None
        values = dict(row)
        version = values.pop("version")
        return StoredPage(CmsPage.model_validate(values), version)

    async def store(
        self, tx: Transaction, page: CmsPage, *, version: int, published_by: UUID
    ) -> None:
        """Make `page` the current one under its slug and keep it as `version`."""
        connection = connection_of(tx)
        await connection.execute(
            f"INSERT INTO {self._s}.pages ({_COLUMNS}, version)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slug) DO UPDATE SET"
            " title = excluded.title, locale = excluded.locale, body = excluded.body,"
            " published_at = excluded.published_at, updated_at = excluded.updated_at,"
            " version = excluded.version",
            page.page_id,
            page.slug,
            page.title,
            page.locale,
            page.body,
            page.published_at,
            page.updated_at,
            version,
        )
        await connection.execute(
            f"INSERT INTO {self._s}.page_versions VALUES ($1, $2, $3, $4, $5, $6, $7)",
            page.page_id,
            version,
            page.title,
            page.locale,
            page.body,
            published_by,
            page.published_at,
        )

    async def versions(self, tx: Transaction, page_id: UUID) -> int:
        """How many versions of the page were published."""
        count = await connection_of(tx).fetchval(
            f"SELECT count(*) FROM {self._s}.page_versions WHERE page_id = $1", page_id
        )
        return int(count)

    async def page(
        self, tx: Transaction, locale: str | None, limit: int, cursor: str | None
    ) -> CmsPageList:
        """Published pages, newest first, `limit` at a time after `cursor`."""
        after_time, after_id = _decode(cursor) if cursor else (None, None)
        rows = await connection_of(tx).fetch(
            f"SELECT page_id, slug, title, locale, published_at FROM {self._s}.pages"
            " WHERE ($1::text IS NULL OR locale = $1)"
            " AND ($2::timestamptz IS NULL OR (published_at, page_id) < ($2, $3))"
            " ORDER BY published_at DESC, page_id DESC LIMIT $4",
            locale,
            after_time,
            after_id,
            limit + 1,
        )
        items = [CmsPageSummary.model_validate(dict(r)) for r in rows[:limit]]
        more = len(rows) > limit
        return CmsPageList(items=items, next_cursor=_encode(items[-1]) if more else None)


def _encode(page: CmsPageSummary) -> str:
    raw = f"{page.published_at.isoformat()}|{page.page_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        published, page_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(published), UUID(page_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "Bad Request", "cursor is not one this API gave") from exc

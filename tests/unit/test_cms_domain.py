"""The rule of a publish: same id, published now, updated only when the content changed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from generated.cms.models import PublishPageRequest
from services.cms.domain import revision

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
GUIDE = PublishPageRequest(title="Guía del aceite", locale="es", body="# El aceite de Jaén")


def test_a_new_page_is_published_and_updated_now_under_a_new_id() -> None:
    new_id = uuid.uuid4()
    page = revision(None, GUIDE, new_id=new_id, slug="guia", now=T0)
    assert (page.page_id, page.slug, page.published_at, page.updated_at) == (
        new_id,
        "guia",
        T0,
        T0,
    )


def test_republishing_the_same_content_keeps_the_id_and_the_update_time() -> None:
    first = revision(None, GUIDE, new_id=uuid.uuid4(), slug="guia", now=T0)
    later = T0 + timedelta(days=1)
    again = revision(first, GUIDE, new_id=uuid.uuid4(), slug="guia", now=later)
    assert again.page_id == first.page_id
    assert (again.published_at, again.updated_at) == (later, T0)


def test_changed_content_is_an_update() -> None:
    first = revision(None, GUIDE, new_id=uuid.uuid4(), slug="guia", now=T0)
    later = T0 + timedelta(hours=3)
    edited = GUIDE.model_copy(update={"body": "# El aceite de Jaén\n\nCosecha temprana."})
    page = revision(first, edited, new_id=uuid.uuid4(), slug="guia", now=later)
    assert (page.page_id, page.updated_at, page.body) == (first.page_id, later, edited.body)

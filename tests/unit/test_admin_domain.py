"""How the back office shows pending artisans and dead letters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from generated.artisan.models import Artisan
from runtime.bus.dlq import DeadLetter
from services.admin.domain import dead_letter_view, pending_artisan

AT = datetime(2026, 11, 28, 10, 0, 5, tzinfo=UTC)


def letter(sequence: int) -> DeadLetter:
    return DeadLetter(
        sequence=sequence,
        original_subject="order.created.v1",
        original_sequence=sequence * 10,
        consumer="notification_on_order_created",
        error="ValidationError: delivery.address: field required",
        attempts=1,
        failed_at=AT,
        payload=b"{}",
        headers={},
    )


def test_a_pending_artisan_is_listed_under_their_business_name() -> None:
    artisan = Artisan(
        artisan_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        business_name="Almazara Sierra Mágina",
        description="Family olive mill in Bedmar since 1952.",
        province="jaen",
        categories=["olive_oil"],
        status="pending",
        applied_at=AT,
        updated_at=AT,
    )
    shown = pending_artisan(artisan)
    assert (shown.artisan_id, shown.user_id, shown.display_name) == (
        artisan.artisan_id,
        artisan.user_id,
        "Almazara Sierra Mágina",
    )
    assert (shown.province, shown.categories, shown.applied_at) == ("jaen", ["olive_oil"], AT)


def test_a_dead_letter_is_shown_by_its_dlq_sequence_and_why_it_failed() -> None:
    shown = dead_letter_view(letter(1042))
    assert shown.model_dump() == {
        "stream_sequence": 1042,
        "original_subject": "order.created.v1",
        "consumer": "notification_on_order_created",
        "error": "ValidationError: delivery.address: field required",
        "attempts": 1,
        "failed_at": AT,
    }

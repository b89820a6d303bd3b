"""How the back office shows what other parts of the platform keep: pure translations."""

from __future__ import annotations

from generated.admin.models import AdminDeadLetter, AdminPendingArtisan
from generated.artisan.models import Artisan
from runtime.bus.dlq import DeadLetter

__all__ = ["dead_letter_view", "pending_artisan"]


def pending_artisan(artisan: Artisan) -> AdminPendingArtisan:
    """An artisan of the artisan service as the verification queue lists them."""
    return AdminPendingArtisan(
        artisan_id=artisan.artisan_id,
        user_id=artisan.user_id,
        display_name=artisan.business_name,
        province=artisan.province,
        categories=list(artisan.categories),
        applied_at=artisan.applied_at,
    )


def dead_letter_view(letter: DeadLetter) -> AdminDeadLetter:
    """A dead letter of the DLQ stream as the back office lists it."""
    return AdminDeadLetter(
        stream_sequence=letter.sequence,
        original_subject=letter.original_subject,
        consumer=letter.consumer,
        error=letter.error,
        attempts=letter.attempts,
        failed_at=letter.failed_at,
    )

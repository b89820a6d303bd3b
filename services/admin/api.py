"""The admin service's REST API: the verification queue and the dead-letter queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from nats.js.errors import NotFoundError

from generated.admin.models import AdminDeadLetterList, AdminRedrive, AdminVerificationQueue
from generated.artisan.client import ArtisanClient
from runtime.bus.dlq import ORIGINAL_SUBJECT, list_dead_letters, redrive
from runtime.bus.nats_publisher import DLQ_STREAM
from runtime.errors import ConfigurationError
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.admin.domain import dead_letter_view, pending_artisan
from services.admin.redrives import RedriveLog

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

__all__ = ["AdminApi"]

MAX_SEQUENCE = 2**63 - 1
"""The largest sequence the redrive log (a PostgreSQL bigint) holds; no DLQ gets past it."""

Province = Literal["almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"]


class AdminApi:
    """Implements `generated.admin.api.Api` (the router lets only admins in)."""

    def __init__(
        self,
        ctx: ServiceContext,
        artisans: ArtisanClient,
        redrives: RedriveLog,
    ) -> None:
        self._ctx = ctx
        self._artisans = artisans
        self._redrives = redrives

    def _jetstream(self) -> JetStreamContext:
        """JetStream on the host's own NATS connection (the DLQ stream lives there)."""
        nc: Client = self._ctx.extras["nats"]
        return nc.jetstream()

    async def list_verification_queue(
        self, principal: Principal, *, province: Province | None = None, limit: int = 50
    ) -> AdminVerificationQueue:
        """Pending artisans, oldest first, asked of the artisan service with the admin's token."""
        client = self._artisans.with_token(principal.token)
        try:
            page = await client.list_artisans(status="pending", province=province, limit=limit)
        except ProblemError as exc:
            raise ProblemError(
                503,
                "Service Unavailable",
                f"The artisan service cannot list pending artisans now ({exc}); retry later.",
            ) from exc
        return AdminVerificationQueue(items=[pending_artisan(a) for a in page.items])

    async def list_dead_letters(
        self, principal: Principal, *, service: str | None = None, limit: int = 100
    ) -> AdminDeadLetterList:
        """Dead letters of every service (or one), newest first."""
        letters = await list_dead_letters(self._jetstream(), service=service, limit=limit)
        return AdminDeadLetterList(items=[dead_letter_view(x) for x in letters])

    async def redrive_dead_letter(self, principal: Principal, stream_sequence: int) -> AdminRedrive:
        """Republish a dead letter to its subject (the runtime deletes it) and log who did."""
        if stream_sequence > MAX_SEQUENCE:  # no stream reaches it; the log could not store it
            raise ProblemError(404, "Not Found", f"No dead letter #{stream_sequence}.")
        js = self._jetstream()
        async with self._ctx.transaction() as tx:
            earlier = await self._redrives.claim(tx, stream_sequence)
            if earlier is not None:
                raise ProblemError(
                    409,
                    "Conflict",
                    f"Dead letter #{stream_sequence} was redriven to {earlier.original_subject}"
                    f" at {earlier.redriven_at.isoformat()}.",
                )
            try:
                letter = await js.get_msg(DLQ_STREAM, seq=stream_sequence)
                subject = (letter.headers or {})[ORIGINAL_SUBJECT]
                republished = await redrive(js, stream_sequence)
            except (NotFoundError, ConfigurationError, KeyError) as exc:
                raise ProblemError(404, "Not Found", f"No dead letter #{stream_sequence}.") from exc
            done = AdminRedrive(
                stream_sequence=stream_sequence,
                original_subject=subject,
                redriven_at=self._ctx.clock(),
            )
            await self._redrives.record(tx, done, republished=republished, by=principal.subject)
        return done

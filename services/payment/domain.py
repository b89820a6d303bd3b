"""Payment rules: the marketplace fee by artisan tier, the split, and the gateway simulator."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

__all__ = [
    "FEE_RATE_BP",
    "GatewayOutcome",
    "SimulatedGateway",
    "SplitLine",
    "Tier",
    "fee_of",
    "split",
]

Tier = Literal["basic", "premium", "master"]
FeeRate = Literal[1200, 1000, 800]

FEE_RATE_BP: dict[Tier, FeeRate] = {"basic": 1200, "premium": 1000, "master": 800}
"""Marketplace fee in basis points by artisan tier: 12 %, 10 %, 8 %."""


def fee_of(gross_minor: int, rate_bp: int) -> int:
    """The fee in minor units, rounded half up: 12 % of 1,250 cents is 150."""
    return (gross_minor * rate_bp + 5_000) // 10_000


@dataclass(frozen=True, slots=True)
class SplitLine:
    """What one artisan earns from a payment."""

    artisan_id: UUID
    tier: Tier
    gross_minor: int
    fee_rate_bp: FeeRate
    fee_minor: int

    @property
    def net_minor(self) -> int:
        """What the artisan receives after the marketplace fee."""
        return self.gross_minor - self.fee_minor


def split(lines: list[tuple[UUID, int]], tiers: dict[UUID, Tier]) -> list[SplitLine]:
    """Split per-artisan gross amounts; an artisan with no known tier pays the basic fee."""
    out = []
    for artisan_id, gross in lines:
        tier = tiers.get(artisan_id, "basic")
        rate = FEE_RATE_BP[tier]
        out.append(SplitLine(artisan_id, tier, gross, rate, fee_of(gross, rate)))
    return out


class GatewayOutcome(enum.Enum):
    """What the payment gateway answered."""

    SUCCEEDED = "succeeded"
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_CARD = "invalid_card"
    NO_ANSWER = "no_answer"


class SimulatedGateway:
    """A deterministic payment gateway: the card token decides the outcome.

    `tok_visa_ok` (and any `tok_ok_*`) succeed; `tok_declined` is declined;
    `tok_insufficient` lacks funds; `tok_timeout` never answers; anything else is invalid.
    """

    _OUTCOMES = {
        "tok_declined": GatewayOutcome.CARD_DECLINED,
        "tok_insufficient": GatewayOutcome.INSUFFICIENT_FUNDS,
        "tok_timeout": GatewayOutcome.NO_ANSWER,
    }

    async def charge(self, card_token: str, amount_minor: int) -> GatewayOutcome:
        """Charge a tokenised card; the same token always gives the same outcome."""
        if amount_minor <= 0:
            return GatewayOutcome.INVALID_CARD
        if card_token == "tok_visa_ok" or card_token.startswith("tok_ok_"):
            return GatewayOutcome.SUCCEEDED
        return self._OUTCOMES.get(card_token, GatewayOutcome.INVALID_CARD)

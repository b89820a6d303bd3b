"""Shipment rules: tracking codes and the created -> dispatched -> delivered transitions.

Standard delivery goes created -> dispatched -> delivered; pickup in Jaén goes created ->
delivered when collected. A repeated carrier notice for the state a shipment is already in
changes nothing (`Unchanged`); a notice that cannot apply is a `TransitionError`.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

__all__ = [
    "PROVINCE_CODES",
    "Method",
    "Move",
    "ShipmentStatus",
    "TransitionError",
    "deliver",
    "dispatch",
    "tracking_code",
]

ShipmentStatus = Literal["created", "dispatched", "delivered"]
Method = Literal["standard", "pickup"]

PROVINCE_CODES = {
    "almeria": "ALM",
    "cadiz": "CAD",
    "cordoba": "COR",
    "granada": "GRA",
    "huelva": "HUE",
    "jaen": "JAE",
    "malaga": "MAL",
    "sevilla": "SEV",
}
"""Three letters per shipping zone, the middle part of a standard tracking code."""


class TransitionError(Exception):
    """A carrier notice that cannot apply to the shipment in its current state."""


class Move(Enum):
    """What a carrier notice does to a shipment."""

    APPLY = "apply"
    UNCHANGED = "unchanged"


def tracking_code(method: Method, province: str | None, sequence: int) -> str:
    """`A4CO-<zone>-<6 digits>`; the zone is `PCK` for pickup (`A4CO-JAE-000123`)."""
    zone = "PCK" if method == "pickup" or province is None else PROVINCE_CODES[province]
    return f"A4CO-{zone}-{sequence:06d}"


def dispatch(status: ShipmentStatus, method: Method) -> Move:
    """A standard shipment leaves with the carrier once; pickup ones are never dispatched."""
    if method == "pickup":
        raise TransitionError("A pickup shipment is collected in Jaén, never dispatched.")
    if status == "created":
        return Move.APPLY
    if status == "dispatched":
        return Move.UNCHANGED
    raise TransitionError("The shipment was already delivered.")


def deliver(status: ShipmentStatus, method: Method) -> Move:
    """A dispatched standard shipment, or a created pickup one, is delivered once."""
    if status == "delivered":
        return Move.UNCHANGED
    if status == "dispatched" or method == "pickup":
        return Move.APPLY
    raise TransitionError("A standard shipment must be dispatched before it is delivered.")

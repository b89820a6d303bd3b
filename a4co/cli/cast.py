"""The demo's cast, made through the gateway: a verified artisan with a well-stocked product,
and customers with tokens. Kept in `<data_dir>/demo.json` and reused while it still works.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from a4co.cli.gateway import DemoError, Gateway, Token

__all__ = ["Cast", "Customer", "prepare_cast"]

PASSWORD = "a4co-demo-password"
STOCK = 100_000
CAST_FILE = "demo.json"


@dataclass
class Customer:
    """A registered customer and, once logged in, their token."""

    email: str
    user_id: str
    token: str = ""
    expires_at: float = 0.0

    def bearer(self) -> Token:
        """The customer's token."""
        token = Token(self.token, 0)
        token.expires_at = self.expires_at
        return token


@dataclass
class Cast:
    """Who the demo's orders come from, and what they buy."""

    artisan_email: str
    artisan_id: str
    product_id: str
    customers: list[Customer] = field(default_factory=list)
    reused: bool = False


async def prepare_cast(
    gateway: Gateway,
    *,
    admin: tuple[str, str],
    customers: int,
    stock_needed: int,
    data_dir: Path,
) -> Cast:
    """Reuse the cast of `demo.json` if its product still has the stock, else make a new one."""
    path = data_dir / CAST_FILE
    cast = _load(path)
    if cast is not None:
        with contextlib.suppress(DemoError):
            await _log_in(gateway, cast, customers, wait=0.0)
            available = await _available(gateway, cast)
            if available >= stock_needed:
                cast.reused = True
                _save(path, cast)
                return cast
    cast = await _new_cast(gateway, admin)
    await _log_in(gateway, cast, customers)
    _save(path, cast)
    return cast


async def _new_cast(gateway: Gateway, admin: tuple[str, str]) -> Cast:
    """Artisan registers, logs in and applies; the admin verifies; the artisan lists a product."""
    admin_token = await gateway.login(*admin)
    email = f"artesana-{uuid.uuid4().hex[:8]}@example.es"
    user_id = await _register(gateway, email, "Artesana de la demo", "artisan")
    artisan_token = await gateway.login(email, PASSWORD)
    applied = await gateway.call(
        "POST",
        "/artisan/artisans",
        token=artisan_token,
        body={
            "user_id": user_id,
            "business_name": "Almazara de la demo",
            "description": "Aceite de oliva virgen extra de Sierra Mágina.",
            "province": "jaen",
            "categories": ["olive_oil"],
        },
    )
    artisan_id = applied["artisan_id"]
    await gateway.call(
        "POST",
        f"/artisan/artisans/{artisan_id}/verify",
        token=admin_token,
        body={"verification_level": "basic", "note": "a4co demo"},
    )
    listed = await gateway.call(
        "POST",
        f"/artisan/artisans/{artisan_id}/products",
        token=artisan_token,
        body={
            "name": "Aceite de oliva virgen extra Picual 500 ml",
            "description": "Cosecha temprana, prensado en frío.",
            "category": "olive_oil",
            "price": {"amount_minor": 1250, "currency": "EUR"},
            "initial_stock": STOCK,
            "stock_threshold": 0,
        },
    )
    return Cast(email, artisan_id, listed["product_id"])


async def _log_in(gateway: Gateway, cast: Cast, wanted: int, *, wait: float = 15.0) -> None:
    """Register customers up to `wanted`; log in those whose token is missing or old."""
    while len(cast.customers) < wanted:
        email = f"cliente-{uuid.uuid4().hex[:10]}@example.es"
        cast.customers.append(
            Customer(email, await _register(gateway, email, "Cliente", "customer"))
        )
    for customer in cast.customers[:wanted]:
        if not customer.bearer().fresh:
            token = await gateway.login(customer.email, PASSWORD, wait=wait)
            customer.token, customer.expires_at = token.value, token.expires_at
    del cast.customers[wanted:]


async def _available(gateway: Gateway, cast: Cast) -> int:
    """Units of the product available now (404 while inventory has not seen the listing)."""
    answer = await gateway.call(
        "GET", f"/inventory/availability/{cast.product_id}", token=cast.customers[0].bearer()
    )
    return int(answer["available"])


async def _register(gateway: Gateway, email: str, name: str, role: str) -> str:
    answer = await gateway.call(
        "POST",
        "/user/users",
        body={
            "email": email,
            "full_name": name,
            "role": role,
            "province": "jaen",
            "password": PASSWORD,
        },
    )
    return str(answer["user_id"])


def _load(path: Path) -> Cast | None:
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        customers = [Customer(**c) for c in raw.pop("customers", [])]
        raw.pop("reused", None)
        return Cast(**raw, customers=customers)
    except (OSError, ValueError, TypeError):
        return None


def _save(path: Path, cast: Cast) -> None:
    """Write the cast (mode 0600: it holds tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(cast), out, indent=2)

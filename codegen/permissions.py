"""Render the bus permissions of every service: a Python table and a nats-server snippet.

The permissions follow from the AsyncAPI operations (what a service sends, which durable
consumers it owns) and `platform.yaml` (streams, DLQ operators); see
`runtime.bus.permissions` for what each grant allows.
"""

from __future__ import annotations

from codegen.model import Catalog
from runtime.bus.permissions import (
    BusPermissions,
    ConsumerGrant,
    operator_permissions,
    render_authorization,
    service_permissions,
)

__all__ = ["bus_permissions", "render_permissions"]


def bus_permissions(catalog: Catalog) -> tuple[BusPermissions, ...]:
    """Every service's permissions, by name, then the operator's."""
    every_subject = sorted(
        {s for stream in catalog.streams if stream.name != "DLQ" for s in stream.subjects}
    )
    grants = []
    for name in sorted(catalog.services):
        service = catalog.services[name]
        consumes = [
            ConsumerGrant(catalog.stream_of(channel.subject)[0].name, durable, channel.subject)
            for op in service.receives
            for channel, durable in op.durables
        ]
        grants.append(
            service_permissions(
                name,
                sends=(op.channel.subject for op in service.sends),
                consumes=consumes,
                dlq_operator=name in catalog.dlq_operators,
                stream_subjects=every_subject,
            )
        )
    return (*grants, operator_permissions())


def render_permissions(header: str, catalog: Catalog) -> dict[str, str]:
    """`bus_permissions.py` and `nats/authorization.conf`, by path in the output folder."""
    grants = bus_permissions(catalog)
    rows = "".join(
        f"    BusPermissions(\n        identity={g.identity!r},\n"
        f"        publish={_tuple(g.publish)},\n        subscribe={_tuple(g.subscribe)},\n    ),\n"
        for g in grants
    )
    python = (
        f"{header}\n"
        '"""Each service\'s NATS permissions, derived from its AsyncAPI operations."""\n\n'
        "from __future__ import annotations\n\n"
        "from runtime.bus.permissions import BusPermissions\n\n"
        '__all__ = ["BUS_PERMISSIONS"]\n\n'
        f"BUS_PERMISSIONS: tuple[BusPermissions, ...] = (\n{rows})\n"
    )
    conf = (
        f"{header}\n"
        "#\n"
        "# The platform's NATS users for a server you run yourself (A4CO_NATS_URL): include this\n"
        "# file in its configuration and give the server one variable per identity with its\n"
        "# password (A4CO_NATS_PASSWORD_<IDENTITY>); give each service the same password in its\n"
        "# environment. `a4co up` writes the same block for the servers it embeds.\n"
        f"{render_authorization(grants)}"
    )
    return {"bus_permissions.py": python, "nats/authorization.conf": conf}


def _stream(catalog: Catalog, subject: str) -> str:
    """The stream capturing `subject` (the catalog's lint makes it exactly one)."""
    return catalog.stream_of(subject)[0].name


def _tuple(items: tuple[str, ...]) -> str:
    if len(items) == 1:
        return f"({items[0]!r},)"
    inner = "".join(f"            {item!r},\n" for item in items)
    return f"(\n{inner}        )"

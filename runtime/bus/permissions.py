"""Who may do what on the bus: each service's NATS permissions, derived from its contract.

A service may publish only what its AsyncAPI document says it sends, drive only its own
durable consumers (create with its filter, pull, ack, read their state), dead-letter only
under `dlq.<service>.>`, and subscribe only to its own inboxes (`_INBOX_<service>.>`: the
replies of its JetStream requests and the messages its pull requests fetch). The operator
identity (`a4co`: the launcher and the CLI) may do everything, streams included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "OPERATOR",
    "BusPermissions",
    "ConsumerGrant",
    "inbox_prefix",
    "operator_permissions",
    "password_variable",
    "render_authorization",
    "service_permissions",
]

OPERATOR = "a4co"
"""The identity of the platform's operator tools: stream provisioning, `a4co status`/`dlq`."""

_DLQ_STREAM = "DLQ"


@dataclass(frozen=True, slots=True)
class ConsumerGrant:
    """One durable consumer a service owns: its stream, its name and its filter subject."""

    stream: str
    durable: str
    subject: str


@dataclass(frozen=True, slots=True)
class BusPermissions:
    """What one identity may publish to and subscribe to (NATS subject allow lists)."""

    identity: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def inbox_prefix(identity: str) -> str:
    """`_INBOX_order` for `order`: the prefix of every inbox the identity's connection makes."""
    return f"_INBOX_{identity}"


def password_variable(identity: str) -> str:
    """`A4CO_NATS_PASSWORD_ORDER`: the variable the server configuration reads a password from."""
    return f"A4CO_NATS_PASSWORD_{identity.upper()}"


def service_permissions(
    service: str,
    *,
    sends: Iterable[str],
    consumes: Iterable[ConsumerGrant],
    dlq_operator: bool = False,
    stream_subjects: Iterable[str] = (),
) -> BusPermissions:
    """The least privilege of a service, from the subjects it sends and the consumers it owns.

    A DLQ operator (the admin API) also reads and removes dead letters and redrives them
    to their original subjects, so it may publish to every stream's subjects.
    """
    publish = set(sends)
    for grant in consumes:
        api = f"$JS.API.CONSUMER.%s.{grant.stream}.{grant.durable}"
        publish.update(
            {
                # The filter is part of the subject: the consumer cannot be widened.
                f"{api % 'CREATE'}.{grant.subject}",
                api % "INFO",
                api % "MSG.NEXT",
                f"$JS.ACK.{grant.stream}.{grant.durable}.>",
            }
        )
    publish.add(f"dlq.{service}.>")
    if dlq_operator:
        publish.update(stream_subjects)
        publish.update(
            f"$JS.API.STREAM.{verb}.{_DLQ_STREAM}" for verb in ("INFO", "MSG.GET", "MSG.DELETE")
        )
    return BusPermissions(
        identity=service,
        publish=tuple(sorted(publish)),
        subscribe=(f"{inbox_prefix(service)}.>",),
    )


def operator_permissions() -> BusPermissions:
    """The operator may publish and subscribe to everything."""
    return BusPermissions(identity=OPERATOR, publish=(">",), subscribe=(">",))


def render_authorization(permissions: Iterable[BusPermissions]) -> str:
    """A nats-server `authorization` block: one user per identity, passwords from variables.

    Each password is written as `$A4CO_NATS_PASSWORD_<IDENTITY>`, which nats-server resolves
    from its environment, so the block holds no secret and can be committed. No user is
    named for anonymous connections, so a client without credentials is refused.
    """
    users = []
    for grant in permissions:
        users.append(
            "    {\n"
            f"      user: {json.dumps(grant.identity)}\n"
            f"      password: ${password_variable(grant.identity)}\n"
            "      permissions: {\n"
            f"        publish: {{ allow: {_subjects(grant.publish)} }}\n"
            f"        subscribe: {{ allow: {_subjects(grant.subscribe)} }}\n"
            "      }\n"
            "    }\n"
        )
    return "authorization {\n  users = [\n" + "".join(users) + "  ]\n}\n"


def _subjects(subjects: tuple[str, ...]) -> str:
    """A quoted list: `$JS...` subjects quoted are literal, not configuration variables."""
    if len(subjects) <= 2:
        return "[" + ", ".join(json.dumps(s) for s in subjects) + "]"
    inner = "".join(f"          {json.dumps(s)}\n" for s in subjects)
    return "[\n" + inner + "        ]"

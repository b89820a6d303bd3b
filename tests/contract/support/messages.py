"""Every message on the bus checked against its contract, as it goes by.

`message_schemas()` builds one JSON Schema validator per subject from the catalog (the
codegen's own bundles). `MessageObserver` subscribes with core NATS to the subjects of the
platform's context streams (not `>`: a subscriber on every subject would answer for subjects
no stream captures and hide JetStream's "no responders"), which also sees what is published
to JetStream, and validates each message that carries a `ce-type`:
its payload against the subject's schema and `ce-type` against the subject.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import jsonschema
import nats

from codegen.pipeline import load_catalog
from codegen.validate import service_bundle
from generated.platform import STREAMS
from runtime.bus.nats_publisher import DLQ_STREAM
from tests.contract.support.openapi_bundle import CONTRACTS

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

__all__ = ["IGNORED_PREFIXES", "MessageObserver", "Observed", "message_schemas"]

IGNORED_PREFIXES = ("$JS.", "_INBOX.", "$SYS.", "dlq.")


@cache
def message_schemas() -> dict[str, jsonschema.protocols.Validator]:
    """A validator of the payload of each subject in the catalog."""
    workspace, catalog = load_catalog(CONTRACTS)
    validators: dict[str, jsonschema.protocols.Validator] = {}
    for service in catalog.services.values():
        bundle, names = service_bundle(workspace, service)
        for op in service.sends:
            schema = bundle.schema_for(names[op.channel.model_name])
            validators[op.channel.subject] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
    return validators


PLANTED: set[str] = set()
"""Every ce-id a test declared invalid on purpose, in this session."""


@dataclass(frozen=True)
class Observed:
    """A message that broke its contract, and how."""

    subject: str
    ce_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.subject} (ce-id {self.ce_id}): {self.problem}"


@dataclass
class MessageObserver:
    """Validates every enveloped message on the bus; `invalid` lists those that failed."""

    validators: dict[str, jsonschema.protocols.Validator] = field(default_factory=message_schemas)
    subjects: Counter[str] = field(default_factory=Counter)
    invalid: list[Observed] = field(default_factory=list)
    expected: set[str] = field(default_factory=lambda: PLANTED)
    """ce-ids of messages a test makes invalid on purpose; they go to `caught`, not `invalid`.
    Shared by the session's observers: admin's redrive, called by Schemathesis, republishes
    the dead letters an earlier module planted."""
    caught: list[Observed] = field(default_factory=list)
    log: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    """Every enveloped message seen: (subject, headers, payload)."""
    _nc: Client | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def start(self, nats_url: str) -> None:
        """Subscribe to the subjects of every context stream (the DLQ is not a contract's)."""
        self._nc = await nats.connect(nats_url, name="a4co-contract-observer")
        for stream in STREAMS:
            if stream.name == DLQ_STREAM:
                continue
            for subject in stream.subjects:
                await self._nc.subscribe(
                    subject, cb=self._on_message, pending_msgs_limit=-1, pending_bytes_limit=-1
                )
        await self._nc.flush()

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""
        if self._nc is not None:
            await self._nc.drain()

    async def flush(self) -> None:
        """Wait until the server has sent everything published so far."""
        if self._nc is not None:
            await self._nc.flush()

    def expect_invalid(self, ce_id: str) -> None:
        """Declare that the message `ce_id` is invalid on purpose."""
        with self._lock:
            self.expected.add(ce_id)

    def mark(self) -> int:
        """A position in `invalid`, to list only what came after it."""
        with self._lock:
            return len(self.invalid)

    def invalid_since(self, mark: int) -> list[Observed]:
        """Invalid messages observed since `mark()`."""
        with self._lock:
            return list(self.invalid[mark:])

    def messages_since(self, position: int) -> list[tuple[str, dict[str, str], bytes]]:
        """Enveloped messages seen after `log` had `position` entries."""
        with self._lock:
            return list(self.log[position:])

    async def _on_message(self, msg: Msg) -> None:
        subject = msg.subject
        if subject.startswith(IGNORED_PREFIXES):
            return
        headers = msg.headers or {}
        ce_type = headers.get("ce-type")
        if not ce_type:
            return
        problem = self._problem(subject, ce_type, msg.data)
        with self._lock:
            self.subjects[subject] += 1
            self.log.append((subject, dict(headers), msg.data))
            if problem is None:
                return
            ce_id = headers.get("ce-id", "?")
            observed = Observed(subject, ce_id, problem)
            (self.caught if ce_id in self.expected else self.invalid).append(observed)

    def _problem(self, subject: str, ce_type: str, data: bytes) -> str | None:
        validator = self.validators.get(subject)
        if validator is None:
            return "no contract declares this subject"
        if ce_type != f"a4co.{subject}":
            return f"ce-type is {ce_type!r}, expected 'a4co.{subject}'"
        try:
            payload: Any = json.loads(data)
        except ValueError as exc:
            return f"the payload is not JSON: {exc}"
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            return f"{len(errors)} schema error(s); at {where}: {first.message[:200]}"
        return None

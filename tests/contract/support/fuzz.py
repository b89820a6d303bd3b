"""Run Schemathesis' engine on one bundled contract against a live service.

The contract, not the app's `/openapi.json`, is the schema: a mismatch between the two is
exactly what these tests are for. Every default check runs (with `ignored_auth`: a secured
operation must refuse a request without a valid token); the report lists each failure with
its operation, check, status and a curl line to reproduce it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import Status, events, from_schema

__all__ = [
    "FAST_PHASES",
    "SLOW_PHASES",
    "FuzzFailure",
    "FuzzReport",
    "is_validation_detail",
    "run_contract",
]

FAST_PHASES = ("examples", "coverage")
SLOW_PHASES = ("fuzzing", "stateful")
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class FuzzFailure:
    """One failed check on one request."""

    operation: str
    check: str
    title: str
    message: str
    status: int | None
    reproduce: str
    body: str = ""

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        body = f"\n    response: {self.body}" if self.body else ""
        return (
            f"[{self.check}] {self.operation}{status}: {self.title}. {self.message}"
            f"\n    {self.reproduce}{body}"
        )


@dataclass
class FuzzReport:
    """What one run found: failures, engine errors, and how much it did."""

    document: str
    failures: list[FuzzFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scenarios: int = 0
    checks_run: int = 0
    operations: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def failed_checks(self) -> set[str]:
        """Names of the checks that failed at least once."""
        return {f.check for f in self.failures}

    def describe(self) -> str:
        """A readable account of the failures and errors, deduplicated."""
        lines = [
            f"Schemathesis on contracts/openapi/{self.document}.yaml: "
            f"{len(self.failures)} failure(s), {len(self.errors)} error(s) over "
            f"{self.scenarios} scenario(s), {self.checks_run} check(s), {self.seconds:.1f} s"
        ]
        lines += [f"  {failure}" for failure in self.failures]
        lines += [f"  ERROR {error}" for error in self.errors]
        return "\n".join(lines)


# A schema-valid request may still break a business rule (an unknown customer, `to` before
# `from`, a cursor this service never issued): the contracts document that answer as 422 or
# 400. What must not happen is the framework's own input validation refusing it: that is a
# model stricter than its contract, and `positive_data_passes_validation` catches it.
STREAM_SECONDS = 1.0
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]
# The app's validation detail is `<loc>: <msg>`, with `loc` a dotted pydantic location that
# starts with where the value came from: `body: ...` for the whole body, `body.x: ...`, and
# `query.x:`/`path.x:`/... (a parameter is never just its location). A service's own 422
# names a field (`query: required for searched.` names the body field `query`), not a loc.
_VALIDATION_DETAIL = re.compile(r"(body[.:]|(query|path|header|cookie)\.)")


def is_validation_detail(detail: str) -> bool:
    """Whether a problem's `detail` comes from the app's input validation, not the service."""
    return _VALIDATION_DETAIL.match(detail) is not None


class StricterThanContractError(Failure):
    """A schema-valid request failed the service's input validation."""

    kind_title = "Schema-valid request failed input validation"


@schemathesis.check
def positive_data_passes_validation(ctx: Any, response: Any, case: Any) -> bool | None:
    """A positive case must not be refused by request validation (`body.x: ...` details)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 422):
        return None
    try:
        detail = str(response.json().get("detail") or "")
    except (ValueError, AttributeError):
        return None
    if is_validation_detail(detail):
        raise StricterThanContractError(
            operation=case.operation.label,
            message=f"The service's model is stricter than its contract: {detail[:300]}",
        )
    return None


def build_config(
    base_url: str,
    token: str,
    *,
    phases: Sequence[str],
    max_examples: int,
    seed: int = 4242,
    max_steps: int = 6,
    streams: Sequence[str] = (),
) -> SchemathesisConfig:
    """A Schemathesis configuration: the phases asked for, every default check, a bearer."""
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "base-url": base_url,
            "workers": 1,
            "request-timeout": 15,
            "max-failures": 200,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "auth": {"openapi": {"bearer": {"bearer": token}}},
            "generation": {"max-examples": max_examples, "allow-x00": False},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "ignored_auth": {"enabled": True},
                "use_after_free": {"enabled": True},
                "ensure_resource_availability": {"enabled": True},
                # Another identity's objects: not part of these contracts' auth model (admin token).
                "object_level_authorization": {"enabled": False},
            },
            # A server-sent event stream stays open: read it briefly, not for the whole
            # request timeout, or each fuzzed stream costs 15 s.
            "operations": [
                {"include-operation-id": operation_id, "request-timeout": STREAM_SECONDS}
                for operation_id in streams
            ],
            "phases": {
                "examples": {"enabled": "examples" in phases, "fill-missing": True},
                "coverage": {"enabled": "coverage" in phases},
                "fuzzing": {"enabled": "fuzzing" in phases},
                "stateful": {"enabled": "stateful" in phases, "max-steps": max_steps},
            },
        }
    )


def run_contract(
    name: str,
    document: dict[str, Any],
    base_url: str,
    token: str,
    *,
    phases: Sequence[str] = FAST_PHASES,
    max_examples: int = 10,
) -> FuzzReport:
    """Run Schemathesis' phases on `document` against the service at `base_url`."""
    config = build_config(
        base_url, token, phases=phases, max_examples=max_examples, streams=_streams(document)
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    report = FuzzReport(name)
    started = time.monotonic()
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.scenarios += 1
            _collect(event.recorder, report, seen)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
    report.seconds = time.monotonic() - started
    return report


def _streams(document: dict[str, Any]) -> list[str]:
    """Operation ids whose success answer is a `text/event-stream`."""
    return [
        operation["operationId"]
        for item in document.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
        and any(
            code.startswith("2") and "text/event-stream" in (response.get("content") or {})
            for code, response in operation.get("responses", {}).items()
        )
    ]


def _collect(recorder: Any, report: FuzzReport, seen: set[tuple[str, str, str]]) -> None:
    report.operations.add(recorder.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            report.checks_run += 1
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            key = (failure.operation or recorder.label, check.name, failure.title)
            if key in seen:
                continue
            seen.add(key)
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            report.failures.append(
                FuzzFailure(
                    operation=failure.operation or recorder.label,
                    check=check.name,
                    title=failure.title,
                    message=" ".join(str(failure.message).split())[:600],
                    status=response.status_code if response is not None else None,
                    reproduce=" ".join(check.failure_info.code_sample.split())[:800],
                    body=_excerpt(response.content) if response is not None else "",
                )
            )


def _excerpt(content: bytes | None) -> str:
    return " ".join((content or b"").decode("utf-8", "replace").split())[:300]

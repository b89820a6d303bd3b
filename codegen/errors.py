"""Errors of the generator; every one names a file and a JSON pointer.

CodegenError
 └── ContractError     a contract is invalid: file, pointer, one sentence
      └── ContractErrors   several of them, reported together
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CodegenError", "ContractError", "ContractErrors", "Finding"]


@dataclass(frozen=True, order=True, slots=True)
class Finding:
    """One problem in one place of one contract."""

    file: str
    pointer: str
    message: str
    rule: str = "CONTRACT_INVALID"
    level: Literal["ERR", "WARN"] = "ERR"

    def __str__(self) -> str:
        tag = self.rule if self.level == "ERR" else f"{self.rule} WARN"
        return f"{self.file}#{self.pointer}: {self.message} [{tag}]"


class CodegenError(Exception):
    """Base of every generator error."""


class ContractError(CodegenError):
    """A contract is invalid at one place."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(str(finding))
        self.finding = finding


class ContractErrors(CodegenError):
    """Several findings, printed one per line, sorted by file and pointer."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = sorted(set(findings))
        super().__init__("\n".join(str(f) for f in self.findings))

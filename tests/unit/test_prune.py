"""What makes an undeclared durable unsafe to delete without --force."""

from __future__ import annotations

from a4co.cli.prune import Undeclared


def test_an_idle_durable_has_nothing_to_lose() -> None:
    assert Undeclared("AUTH", "gateway_on_session_revoked", (">",), 0, 0).busy == ""


def test_a_pull_request_waiting_means_a_process_still_reads_it() -> None:
    busy = Undeclared("AUTH", "gateway_on_session_revoked", (">",), 0, 2).busy
    assert busy == "2 pull request(s) waiting: a process still reads it"


def test_pending_and_waiting_are_both_said() -> None:
    busy = Undeclared("AUTH", "gateway_on_session_revoked", (">",), 3, 1).busy
    assert busy.startswith("3 message(s) pending; 1 pull request(s) waiting")

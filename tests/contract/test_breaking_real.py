"""The issue's "must show", on a copy of the real contracts in a temporary git repository:
each breaking change fails `python -m codegen breaking --base HEAD` and names its rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from codegen.breaking.command import breaking as run_breaking
from tests.contract.conftest import CONTRACTS, REPO, edit

GIT = [
    "git",
    "-c",
    "user.name=test",
    "-c",
    "user.email=test@example.org",
    "-c",
    "commit.gpgsign=false",
]
INVENTORY = "contracts/asyncapi/inventory.yaml"
ORDER_API = "contracts/openapi/order.yaml"
RELEASE_REASONS = "customer_cancelled, reservation_expired]"


def git(repo: Path, *args: str) -> None:
    subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose first commit has no contracts and whose second has the real ones."""
    repo = tmp_path_factory.mktemp("base") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("before the contracts\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "empty")
    shutil.copytree(CONTRACTS, repo / "contracts")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "contracts")
    return repo


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    """A fresh copy of the base repository for one test to change."""
    target = tmp_path / "repo"
    shutil.copytree(base_repo, target, symlinks=True)
    return target


def cli(repo: Path, base: str = "HEAD") -> subprocess.CompletedProcess[str]:
    """`python -m codegen breaking --base <base>`, run from the repository's folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "codegen", "breaking", "--base", base]
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=False)


def breaking(repo: Path, capsys: pytest.CaptureFixture[str], base: str = "HEAD") -> Run:
    """The same command through its function, in-process (the CLI's start-up is slow)."""
    code = run_breaking(repo / "contracts", base)
    out, err = capsys.readouterr()
    return Run(code, out, err)


@dataclass(frozen=True)
class Run:
    """What one run of the command returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def remove_reservation_id(repo: Path) -> None:
    path = repo / INVENTORY
    edit(
        path,
        "required: [order_id, reservation_id, items, reason]",
        "required: [order_id, items, reason]",
    )
    edit(
        path,
        "        reservation_id: {type: string, format: uuid, "
        "description: The released reservation.}\n",
        "",
    )
    edit(
        path,
        "            reservation_id: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d\n            items:\n"
        "              - {product_id: 5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d, quantity: 2}\n"
        "            reason: payment_failed",
        "            items:\n"
        "              - {product_id: 5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d, quantity: 2}\n"
        "            reason: payment_failed",
    )


CARD = (
    "        card_token: {type: string, pattern: '^[^\\x00-\\x1F\\x7F]*$', minLength: 1, "
    "maxLength: 64, description: Tokenised card.}\n"
)


def require_coupon(repo: Path) -> None:
    path = repo / ORDER_API
    edit(
        path,
        "required: [customer_id, items, delivery, card_token]",
        "required: [customer_id, items, delivery, card_token, coupon]",
    )
    edit(
        path,
        CARD,
        CARD + "        coupon: {type: string, maxLength: 20, description: A discount code.}\n",
    )
    edit(
        path,
        "                  card_token: tok_visa_ok\n",
        "                  card_token: tok_visa_ok\n                  coupon: SPRING\n",
    )


def change_level_type(repo: Path) -> None:
    edit(
        repo / INVENTORY,
        "level: {type: integer, format: int64, minimum: 0, description: Units left available.}",
        "level: {type: string, description: Units left available.}",
    )
    edit(repo / INVENTORY, "            level: 3\n", "            level: '3'\n")


def narrow_level(repo: Path) -> None:
    edit(
        repo / INVENTORY,
        "level: {type: integer, format: int64, minimum: 0, description: Units left available.}",
        "level: {type: integer, format: int64, minimum: 0, maximum: 1000, "
        "description: Units left available.}",
    )


def rename_subject(repo: Path) -> None:
    edit(
        repo / INVENTORY,
        "address: inventory.stock_threshold_reached.v1",
        "address: product.stock_threshold_reached.v1",
    )


def rename_subject_against_the_naming(repo: Path) -> None:
    # SUBJECT_NAMING refuses the new subject too; the compatibility rule is the one to name.
    edit(
        repo / INVENTORY,
        "address: inventory.stock_threshold_reached.v1",
        "address: inventory.running_low.v1",
    )


def remove_enum_value(repo: Path) -> None:
    edit(repo / INVENTORY, RELEASE_REASONS, "customer_cancelled]")


def add_optional_field(repo: Path) -> None:
    line = (
        "        threshold: {type: integer, format: int64, minimum: 0, "
        "description: The artisan's alert level.}\n"
    )
    edit(
        repo / INVENTORY,
        line,
        line + "        note: {type: string, maxLength: 200, description: Why it ran low.}\n",
    )


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a_field_removed_from_a_published_message": (remove_reservation_id, "MESSAGE_FIELD_NO_DELETE"),
    "b_required_field_added_to_a_rest_request": (
        require_coupon,
        "REST_REQUEST_FIELD_REQUIRED_NO_ADD",
    ),
    "c_field_type_changed": (change_level_type, "MESSAGE_FIELD_TYPE_NO_CHANGE"),
    "c2_field_type_narrowed": (narrow_level, "MESSAGE_FIELD_TYPE_NO_NARROW"),
    "d_subject_renamed_in_place": (rename_subject, "CHANNEL_SUBJECT_NO_RENAME"),
    "d2_subject_renamed_against_the_naming": (
        rename_subject_against_the_naming,
        "CHANNEL_SUBJECT_NO_RENAME",
    ),
    "e_enum_value_removed_from_a_published_message": (
        remove_enum_value,
        "MESSAGE_ENUM_VALUE_NO_DELETE",
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_breaking_change_fails_and_names_its_rule(
    repo: Path, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    apply, rule = CHANGES[change]
    apply(repo)
    done = breaking(repo, capsys)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"[{rule}]" in done.stdout, done.stdout + done.stderr


def test_f_adding_an_optional_field_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_optional_field(repo)
    done = breaking(repo, capsys)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[MESSAGE_" not in done.stdout  # subscribers ignore the field until they upgrade


def test_the_cli_fails_on_a_removed_field_from_the_repository_folder(repo: Path) -> None:
    remove_reservation_id(repo)
    done = cli(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[MESSAGE_FIELD_NO_DELETE]" in done.stdout


def test_unchanged_contracts_pass(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = breaking(repo, capsys)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_a_base_without_contracts_compares_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remove_enum_value(repo)
    done = breaking(repo, capsys, "HEAD~1")
    assert done.returncode == 0
    assert "nothing to compare" in done.stderr


def test_transitive_mode_compares_with_every_earlier_version(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remove_enum_value(repo)
    git(repo, "commit", "-q", "-am", "a breaking change slipped in")
    done = breaking(repo, capsys)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[MESSAGE_ENUM_VALUE_NO_DELETE]" in done.stdout
    assert "compared with the contract at" in done.stdout


def test_a_non_transitive_mode_compares_with_the_base_only(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remove_enum_value(repo)
    git(repo, "commit", "-q", "-am", "a breaking change slipped in")
    platform = repo / "contracts/platform.yaml"
    text = platform.read_text(encoding="utf-8")
    head, _, tail = text.partition("  - name: INVENTORY")
    tail = tail.replace("compatibility: FULL_TRANSITIVE", "compatibility: FULL", 1)
    platform.write_text(f"{head}  - name: INVENTORY{tail}", encoding="utf-8")
    weakening = breaking(repo, capsys)
    git(repo, "commit", "-q", "-am", "INVENTORY compares with the base only")
    done = breaking(repo, capsys)

    # The change that drops _TRANSITIVE is still checked against the history; once it is
    # the base, only the base is compared.
    assert weakening.returncode == 1, weakening.stdout + weakening.stderr
    assert "[MESSAGE_ENUM_VALUE_NO_DELETE]" in weakening.stdout
    assert "[STREAM_COMPATIBILITY_NO_WEAKEN WARN]" in weakening.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_working_tree_has_no_breaking_change_against_head() -> None:
    done = cli(REPO)
    assert done.returncode == 0, done.stdout + done.stderr


AUTH = "contracts/asyncapi/auth.yaml"
GATEWAY = "contracts/asyncapi/gateway.yaml"
# SessionRevoked is at v2 (v1 retired); these tests ship its next version, v3, beside it.
CURRENT_CHANNEL = """  sessionRevokedV2:
    address: auth.session_revoked.v2
"""
NEXT_CHANNEL = """  sessionRevokedV3:
    address: auth.session_revoked.v3
    x-replaces: auth.session_revoked.v2
    description: A session ended before its tokens expired; its tokens must be refused.
    messages:
      SessionRevoked: {$ref: '#/components/messages/SessionRevokedV2'}
"""
NEXT_SEND = """  sendSessionRevokedV3:
    action: send
    channel: {$ref: '#/channels/sessionRevokedV3'}
    summary: Announce that a session was revoked.
    messages: [{$ref: '#/channels/sessionRevokedV3/messages/SessionRevoked'}]
"""


def add_next_version(repo: Path) -> None:
    """SessionRevoked v3 beside v2: auth sends both, v2 is deprecated, gateway still reads v2."""
    path = repo / AUTH
    deprecated = "    x-deprecated: {replaced-by: auth.session_revoked.v3, sunset: '2027-03-01'}\n"
    edit(path, CURRENT_CHANNEL, CURRENT_CHANNEL + deprecated)
    edit(path, "  userRegistered: {$ref:", NEXT_CHANNEL + "  userRegistered: {$ref:")
    edit(path, "  receiveUserRegistered:\n", NEXT_SEND + "  receiveUserRegistered:\n")


def move_gateway_to_next(repo: Path) -> None:
    path = repo / GATEWAY
    text = path.read_text(encoding="utf-8")
    assert "sessionRevokedV2" in text, path
    path.write_text(text.replace("sessionRevokedV2", "sessionRevokedV3"), encoding="utf-8")


def retire_current(repo: Path) -> None:
    path = repo / AUTH
    text = path.read_text(encoding="utf-8")
    start = text.index(CURRENT_CHANNEL)
    end = text.index("  sessionRevokedV3:")
    text = text[:start] + text[end:]
    start = text.index("  sendSessionRevokedV2:\n")
    end = text.index(NEXT_SEND)
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    edit(repo / "contracts/openapi/auth.yaml", "auth.session_revoked.v2", "auth.session_revoked.v3")


def test_adding_the_next_version_beside_the_current_passes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_next_version(repo)
    done = breaking(repo, capsys)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_retiring_a_version_fails_while_a_contract_receives_it_and_passes_once_none_does(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_next_version(repo)
    git(repo, "commit", "-q", "-am", "SessionRevoked v3 beside v2")
    move_gateway_to_next(repo)
    retire_current(repo)
    at_once = breaking(repo, capsys)
    git(repo, "stash", "-q")
    move_gateway_to_next(repo)
    moved = breaking(repo, capsys)
    git(repo, "commit", "-q", "-am", "gateway receives v3")
    retire_current(repo)
    retired = breaking(repo, capsys)

    assert at_once.returncode == 1, at_once.stdout + at_once.stderr
    assert "while gateway still receives it" in at_once.stdout
    assert "[CHANNEL_NO_RETIRE_WHILE_RECEIVED]" in at_once.stdout
    assert (moved.returncode, moved.stdout) == (0, ""), moved.stdout + moved.stderr
    assert (retired.returncode, retired.stdout) == (0, ""), retired.stdout + retired.stderr


def test_a_header_the_envelope_trait_makes_required_fails_naming_the_subscribers(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "contracts/schemas/envelope.yaml",
        "ce-specversion, correlation-id]",
        "ce-specversion, correlation-id, traceparent]",
    )
    done = breaking(repo, capsys)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "auth.session_revoked.v2" in x)
    assert "header traceparent became required" in line
    assert "new subscribers (gateway)" in line
    assert line.endswith("[MESSAGE_HEADERS_COMPATIBLE]")


def test_one_edit_prints_one_finding_however_many_earlier_versions_there_are(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_optional_field(repo)
    git(repo, "commit", "-q", "-am", "an optional field")
    edit(repo / INVENTORY, "description: Why it ran low.}", "description: Why stock ran low.}")
    git(repo, "commit", "-q", "-am", "a description")
    remove_enum_value(repo)
    done = breaking(repo, capsys)
    assert "and 2 earlier version(s)" in done.stderr
    lines = [x for x in done.stdout.splitlines() if "[MESSAGE_ENUM_VALUE_NO_DELETE]" in x]
    assert len(lines) == 1, done.stdout
    assert "compared with the contract at" not in lines[0]


def test_a_rest_finding_names_the_services_that_declare_calling_the_operation(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "contracts/openapi/geo.yaml",
        "{name: radius_km, in: query, required: false,",
        "{name: radius_km, in: query, required: true,",
    )
    done = breaking(repo, capsys)
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = [x for x in done.stdout.splitlines() if "[REST_PARAMETER_NO_REQUIRE]" in x]
    assert "GET /nearby (geo.findNearbyProvinces, called by artisan)" in line

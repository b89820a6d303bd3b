"""The catalog's versions page: each versioned message's versions side by side, their links,
deprecation and sunset, producers and consumers, with relative links that resolve."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path

from codegen.build import build_catalog
from codegen.catalog_site import render_site
from codegen.loader import Workspace
from codegen.migration import versioned_messages
from tests.contract.conftest import CONTRACTS

VERSIONS = Path(__file__).resolve().parent / "versions"


def site_of(root: Path) -> dict[str, str]:
    workspace = Workspace(root)
    return render_site(workspace, build_catalog(workspace))


def rows(page: str) -> list[str]:
    """The text of each table body row, tags removed."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", "<tr" + row).split()) for row in body.split("<tr")[1:]]


def test_versions_side_by_side_with_links_sunset_producers_and_consumers() -> None:
    page = site_of(VERSIONS / "v2_beside")["versions.html"]
    v1, v2 = rows(page)
    assert v1 == (
        "OrderPlaced shop.order_placed.v1 deprecated 2027-03-01 replaced by "
        "shop.order_placed.v2 shop mailer ( mailer_on_order_placed )"
    )
    assert (
        v2 == "OrderPlacedV2 shop.order_placed.v2 current replaces shop.order_placed.v1 shop none"
    )
    assert "v1 (shop.order_placed.v1) is still received by mailer" in page


def test_a_retired_version_is_listed_without_a_page() -> None:
    page = site_of(VERSIONS / "retired")["versions.html"]
    v1, _ = rows(page)
    assert v1 == "v1 shop.order_placed.v1 retired none none"
    assert "is retired: no contract declares it any more" in page


def test_every_link_of_the_page_is_relative_and_resolves() -> None:
    site = site_of(VERSIONS / "moved")
    links = re.findall(r'(?:href|src)="([^"]+)"', site["versions.html"])
    targets = {
        posixpath.normpath(link.split("#")[0]) for link in links if not link.startswith("data:")
    }
    assert {"index.html", "style.css", "versions.html", "services/mailer.html"} <= targets
    assert all(target in site for target in targets), sorted(targets - site.keys())


def test_every_page_links_to_the_versions_page() -> None:
    site = site_of(VERSIONS / "moved")
    pages = [path for path in site if path.endswith(".html")]
    for path in pages:
        up = "../" * path.count("/")
        assert f'href="{up}versions.html"' in site[path], path


def test_the_real_contracts_page_has_a_section_per_versioned_message() -> None:
    workspace = Workspace(CONTRACTS)
    catalog = build_catalog(workspace)
    page = render_site(workspace, catalog)["versions.html"]
    expected = len(versioned_messages(catalog))
    assert page.count('<section id="versions-') == expected
    assert ("No message has more than one version yet." in page) == (expected == 0)


def test_a_consumer_that_still_reads_the_older_version_shows_both_durables() -> None:
    site = site_of(VERSIONS / "moved")
    live, mailer = site["live.html"], site["services/mailer.html"]
    model = json.loads(live.split('type="application/json"', 1)[1].split(">", 1)[1].split("<")[0])
    durables = {c["durable"]: c["producers"] for c in model["consumers"]}

    # mailer moved to v2 while shop still sends v1: its v1 durable drains what v1 still
    # carries, so its lag is watched on the live page and named on the service page.
    assert durables == {
        "mailer_on_order_placed_v2": ["shop"],
        "mailer_on_order_placed": ["shop"],
    }
    for name in durables:
        assert f'data-key="durable:{name}"' in live, name
        assert f"<code>{name}</code>" in mailer, name


def test_a_stored_only_version_says_it_left_the_bus_and_is_read_back_from_the_store() -> None:
    page = site_of(VERSIONS / "stored")["versions.html"]
    v1, _ = rows(page)
    assert v1 == "OrderPlaced shop.order_placed.v1 stored only none none"  # no producer, no reader
    assert (
        "v1 (shop.order_placed.v1) is stored only: retired from the bus; stored events are "
        "upcast on load." in page
    )

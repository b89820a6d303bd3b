"""The event catalog site's renderer: deterministic bytes, a page per service and message,
relative links only, and a search index that covers everything the index page lists."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from codegen.build import build_catalog
from codegen.catalog_site import render_site
from codegen.catalog_site.graph import layout
from codegen.loader import Workspace
from codegen.model import Catalog
from tests.contract.conftest import CONTRACTS, GENERATED, MINI


def _load(root: Path) -> tuple[Workspace, Catalog]:
    workspace = Workspace(root)
    return workspace, build_catalog(workspace)


@pytest.fixture(scope="module")
def site() -> dict[str, str]:
    return render_site(*_load(CONTRACTS))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return _load(CONTRACTS)[1]


class _Links(HTMLParser):
    """Every href and src of a page, and every id."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and not value.startswith("data:"):
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)


def _parse(text: str) -> _Links:
    parser = _Links()
    parser.feed(text)
    return parser


def test_rendering_twice_gives_identical_bytes(site: dict[str, str]) -> None:
    again = render_site(*_load(CONTRACTS))
    assert list(again) == list(site)
    assert all(again[path].encode() == site[path].encode() for path in site)


def test_the_committed_site_is_what_the_contracts_render(site: dict[str, str]) -> None:
    committed = {
        p.relative_to(GENERATED / "catalog").as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((GENERATED / "catalog").rglob("*"))
        if p.is_file()
    }
    assert committed == site, "generated/catalog is stale: run `make generate`"


def test_every_message_and_service_gets_a_page(site: dict[str, str], catalog: Catalog) -> None:
    messages = sorted(c.model_name for c in catalog.channels.values())
    assert sorted(p for p in site if p.startswith("messages/")) == [
        f"messages/{m}.html" for m in messages
    ]
    assert sorted(p for p in site if p.startswith("services/")) == [
        f"services/{s}.html" for s in sorted(catalog.services)
    ]
    for channel in catalog.channels.values():
        page = site[f"messages/{channel.model_name}.html"]
        assert f"<code>{channel.subject}</code>" in page
        assert 'id="field-table"' in page or "None." in page


def test_links_are_relative_and_resolve_within_the_site(site: dict[str, str]) -> None:
    ids = {path: _parse(text).ids for path, text in site.items() if path.endswith(".html")}
    for path, text in site.items():
        if not path.endswith(".html"):
            continue
        for href in _parse(text).links:
            assert not re.match(r"^(/|[a-z]+:)", href), f"{path}: {href} is not relative"
            target, _, fragment = href.partition("#")
            resolved = (Path(path).parent / target).as_posix() if target else path
            resolved = re.sub(r"[^/]+/\.\./", "", resolved)
            assert resolved in site, f"{path}: {href} points at no file"
            if fragment:
                assert fragment in ids[resolved], f"{path}: {href} names no element"


def test_search_index_has_an_entry_per_listed_row(site: dict[str, str], catalog: Catalog) -> None:
    index = site["index.html"]
    embedded = re.search(r'<script type="application/json" id="search-index">(.*?)</script>', index)
    assert embedded is not None
    entries = json.loads(embedded.group(1))
    keys = sorted(e["key"] for e in entries)
    assert keys == sorted(set(re.findall(r'data-key="([^"]+)"', index)))
    assert len(keys) == len(catalog.services) + len(catalog.channels) + len(catalog.streams)
    assert all(e["text"] == e["text"].lower() for e in entries)


def test_graph_layout_keeps_every_node_inside_the_picture() -> None:
    services = ["a", "b", "c", "hub"]
    links = {(s, "hub"): [(f"{s.upper()}Happened", "event")] for s in "abc"}
    links[("a", "b")] = [("DoIt", "command")]
    graph = layout(services, links)
    assert graph == layout(list(reversed(services)), dict(reversed(links.items())))
    assert [n.name for n in graph.nodes] == services
    for node in graph.nodes:
        assert float(node.left) >= 0 and float(node.left) + float(node.width) <= float(graph.width)
        assert float(node.top) >= 0 and float(node.top) + float(node.height) <= float(graph.height)
    kinds = {(e.source, e.target): e.kind for e in graph.edges}
    assert kinds[("a", "b")] == "command" and kinds[("a", "hub")] == "event"


def test_the_mini_catalog_renders_a_site() -> None:
    files = render_site(*_load(MINI))
    assert {"index.html", "search.js", "style.css"} <= set(files)
    assert any(p.startswith("messages/") for p in files)


def test_a_service_page_shows_each_operations_latency_objective() -> None:
    files = render_site(*_load(MINI))
    shop = files["services/shop.html"]
    rest = shop[shop.index('id="rest-table"') :]
    rest = rest[: rest.index("</table>")]
    assert "p99 &lt; 500 ms" in rest and "p99 &lt; 100 ms" in rest
    receive = shop[shop.index('id="receive-table"') :]
    assert "p99.9 &lt; 250 ms" in receive[: receive.index("</table>")]

"""The static event catalog site, rendered from the catalog model into `generated/catalog/`.

Pages use relative links only, so the site works under any base path and from file://;
search filters the index page with a JSON index embedded in it. The live and trace pages
read Prometheus and the spans through `a4co up`'s static server, and say so when opened
from a file. Every byte is deterministic.
"""

from __future__ import annotations

from codegen.catalog_site.html import Site
from codegen.catalog_site.index import index_page
from codegen.catalog_site.live import live_page
from codegen.catalog_site.pages import message_page, service_page
from codegen.catalog_site.trace import trace_page
from codegen.catalog_site.versions import versions_page
from codegen.loader import Workspace
from codegen.model import Catalog

__all__ = ["render_site"]


def render_site(workspace: Workspace, catalog: Catalog) -> dict[str, str]:
    """Every file of the site, by path relative to the site's folder."""
    site = Site(workspace, catalog)
    files = {
        "style.css": site.env.get_template("style.css.j2").render(),
        "search.js": site.env.get_template("search.js.j2").render(),
        "index.html": index_page(site),
        "versions.html": versions_page(site),
        "live.html": live_page(site),
        "live.js": site.env.get_template("live.js.j2").render(),
        "trace.html": trace_page(site),
        "trace.js": site.env.get_template("trace.js.j2").render(),
    }
    for name in sorted(catalog.services):
        files[f"services/{name}.html"] = service_page(site, catalog.services[name])
    for name, flow in site.flows.items():
        files[f"messages/{name}.html"] = message_page(site, flow)
    return dict(sorted(files.items()))

"""The static server `a4co up` runs: the event catalog and the storefront, on a port of its own.

`/catalog/` serves `generated/catalog/` (built by `make generate`), `/storefront/` serves
`storefront/`, and `/storefront/config.json` is answered from memory with the gateway's URL,
so nothing is written into the tree. The catalog's live and trace pages read
`/prometheus/api/v1/...` and `/traces/api` from here (`a4co.cli.site_api`).
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from a4co.cli.site_api import PROMETHEUS_PREFIX, TRACES_PATH, prometheus_answer, trace_answer
from a4co.infra.ports import LOOPBACK

__all__ = ["REPO", "SITES", "StaticServer", "missing_sites"]

REPO = Path(__file__).resolve().parents[2]

SITES: dict[str, tuple[Path, str, str]] = {
    "catalog": (
        REPO / "generated" / "catalog",
        "index.html",
        "run `make generate` to build the event catalog",
    ),
    "storefront": (
        REPO / "storefront",
        "dist/storefront/app.js",
        "run `make storefront` to compile it (TypeScript; needs node and npm)",
    ),
}
"""Site name -> (folder, the file that shows it is built, how to build it when missing)."""


def missing_sites() -> dict[str, str]:
    """Site name -> a sentence saying how to build it, for each site not built yet."""
    return {
        name: f"the {name} is not built ({(folder / built).relative_to(REPO)} is missing): {hint}"
        for name, (folder, built, hint) in SITES.items()
        if not (folder / built).is_file()
    }


class _Handler(SimpleHTTPRequestHandler):
    """Serves each site from its folder, `config.json` from memory, the live pages' two APIs,
    and an index at `/`."""

    def __init__(
        self,
        *args: Any,
        config: bytes,
        prometheus_url: str | None,
        trace_file: Path | None,
        **kwargs: Any,
    ) -> None:
        self._config = config
        self._prometheus_url = prometheus_url
        self._trace_file = trace_file
        super().__init__(*args, directory=str(REPO), **kwargs)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/storefront/config.json":
            self._send(self._config, "application/json")
        elif path.startswith(PROMETHEUS_PREFIX):
            answer = prometheus_answer(self._prometheus_url, path, query)
            self._send(answer.body, answer.content_type, answer.status)
        elif path == TRACES_PATH:
            answer = trace_answer(self._trace_file, query)
            self._send(answer.body, answer.content_type, answer.status)
        elif path == "/":
            links = "".join(f'<li><a href="/{name}/">{name}</a></li>' for name in SITES)
            self._send(f"<!doctype html><title>A4CO</title><ul>{links}</ul>".encode(), "text/html")
        elif any(path == f"/{name}" for name in SITES):
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", f"{path}/")
            self.end_headers()
        else:
            super().do_GET()

    def translate_path(self, path: str) -> str:
        """Map `/<site>/...` into the site's folder; anything else is not found."""
        route = path.split("?", 1)[0].split("#", 1)[0]
        for name, (folder, _, _) in SITES.items():
            prefix = f"/{name}/"
            if route.startswith(prefix):
                inner = super().translate_path("/" + route[len(prefix) :])
                return str(folder / Path(inner).relative_to(REPO))
        return str(REPO / ".a4co-not-found")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the URL table, not every request."""

    def _send(self, body: bytes, content_type: str, status: int = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class StaticServer:
    """A threaded HTTP server on 127.0.0.1 for the catalog and the storefront.

    `prometheus_url` is the Prometheus the live page reads (None: it says none runs);
    `trace_file` the spans file the trace page reads (`<data_dir>/traces/spans.jsonl`).
    """

    def __init__(
        self,
        gateway_url: str | None,
        port: int = 0,
        *,
        prometheus_url: str | None = None,
        trace_file: Path | None = None,
    ) -> None:
        config = json.dumps({"gateway": gateway_url}).encode()
        handler = partial(
            _Handler, config=config, prometheus_url=prometheus_url, trace_file=trace_file
        )
        self._server = ThreadingHTTPServer((LOOPBACK, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="a4co-static", daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> StaticServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

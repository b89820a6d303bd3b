"""The live start-up display of `a4co up`: the servers, then each service as it becomes ready."""

from __future__ import annotations

import threading
import time

from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from a4co.infra import Infra

__all__ = ["ReadinessView"]

_COLUMNS = 3


class ReadinessView:
    """A renderable for `rich.live.Live`: an overall bar and a grid of services' states.

    `servers_started` and `service_ready` are the Platform's start callbacks.
    """

    def __init__(self, services: list[str]) -> None:
        self._began = time.monotonic()
        self._lock = threading.Lock()
        self._servers: float | None = None
        self._ready: dict[str, float] = {}
        self._services = services
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        self._task = self._bar.add_task("starting NATS, PostgreSQL, Redis", total=len(services))

    def servers_started(self, infra: Infra) -> None:
        """The servers run: the services start next."""
        with self._lock:
            self._servers = time.monotonic() - self._began
        self._bar.update(self._task, description="waiting for services' /readyz")

    def service_ready(self, name: str) -> None:
        """One service answered /readyz with 200."""
        with self._lock:
            self._ready.setdefault(name, time.monotonic() - self._began)
            done = len(self._ready)
        description = "all services ready" if done == len(self._services) else None
        self._bar.update(self._task, completed=done, description=description)

    def __rich__(self) -> RenderableType:
        grid = Table.grid(padding=(0, 3))
        for _ in range(_COLUMNS):
            grid.add_column()
        with self._lock:
            cells = [self._cell(name) for name in self._services]
            servers = self._servers
        rows = [cells[i : i + _COLUMNS] for i in range(0, len(cells), _COLUMNS)]
        for row in rows:
            grid.add_row(*row)
        head = (
            Text(f"✓ servers started in {servers:.1f} s", style="green")
            if servers is not None
            else Text("… starting servers (NATS, PostgreSQL, Redis)", style="yellow")
        )
        return Group(head, self._bar, grid)

    def _cell(self, name: str) -> Text:
        at = self._ready.get(name)
        if at is not None:
            return Text.assemble(("✓ ", "green"), name, (f" {at:.1f}s", "dim"))
        style = "yellow" if self._servers is not None else "dim"
        return Text.assemble(("… ", style), (name, style))

"""Progress of a long command: a rich bar on a terminal, plain lines for a pipe or a log, JSON for scripts.

The services report progress as events or callbacks; a command feeds them to one ``Progress``:

- on a terminal, a rich bar with the stage, bytes done / total, rate and time left;
- otherwise one line at most once a second (a new stage and the end are always written), of the form::

      progress backup 52428800/104857600 50% upload     (bytes known: done/total, percent, stage)
      progress backup snapshot                          (only the stage is known)

- with ``--json`` the result is printed as one JSON object on stdout at the end, and the progress goes to
  stderr (as a bar or lines, by the same rule), so stdout is the JSON alone.

A command's own messages (``ingested ...``) go through ``echo``, which prints them above the bar.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import IO, Any

from kdrama_tui.events import Event, EventBus

LINE_INTERVAL = 1.0  # seconds between two plain progress lines


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object on stdout (progress goes to stderr)")


class Progress:
    """One command's progress display; thread-safe (the importer hashes in a worker thread)."""

    def __init__(self, name: str, *, json_output: bool = False, stream: IO[str] | None = None,
                 interactive: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.json_output = json_output
        self.out = stream or (sys.stderr if json_output else sys.stdout)
        self.interactive = self.out.isatty() if interactive is None else interactive
        self._clock = clock
        self._lock = threading.Lock()
        self._stage: str | None = None
        self._done = 0
        self._total: int | None = None
        self._last_line = float("-inf")
        self._last_text = ""
        self._closed = False
        self._bar: Any = None
        self._task: Any = None

    # -- life ------------------------------------------------------------------------------------------

    def __enter__(self) -> Progress:
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), TimeRemainingColumn(),
                            console=Console(file=self.out, force_terminal=True), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.name, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the bar, or write the last state however soon after the previous line (idempotent)."""
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
                self.interactive = False
                self._closed = True
            elif not self._closed:
                self._closed = True
                if self._stage is not None or self._done:
                    self._write_line()

    # -- feeding -------------------------------------------------------------------------------------

    def update(self, *, done: int | None = None, total: int | None = None, stage: str | None = None,
               advance: int = 0) -> None:
        """Set the bytes done (or ``advance`` them), the total when known, and the stage.

        A new stage given without a total starts with no bytes known: the bytes belong to the stage."""
        with self._lock:
            new_stage = stage is not None and stage != self._stage
            if stage is not None:
                self._stage = stage
            if new_stage and total is None:
                self._done, self._total = 0, None
            if total is not None:
                self._total = total
            if done is not None:
                self._done = done
            self._done += advance
            if self._closed:
                return
            if self._bar is not None:
                self._bar.update(self._task, completed=self._done, total=self._total,
                                 description=f"{self.name} {self._stage}" if self._stage else self.name)
                return
            now = self._clock()
            finished = self._total is not None and self._done >= self._total > 0
            if new_stage or finished or now - self._last_line >= LINE_INTERVAL:
                self._write_line(now)

    def echo(self, line: str) -> None:
        """A message of the command's own: above the bar, or a line; with --json, nothing (it is in the result)."""
        if self.json_output:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                print(line, file=self.out, flush=True)

    def result(self, data: dict[str, Any], lines: Iterable[str] = ()) -> None:
        """The command's outcome: ``data`` as JSON on stdout with --json, else ``lines`` as text."""
        if self.json_output:
            print(json.dumps(data, default=str, ensure_ascii=False), flush=True)
            return
        for line in lines:
            self.echo(line)

    # -- plain lines --------------------------------------------------------------------------------

    def _write_line(self, now: float | None = None) -> None:
        stage = f" {self._stage}" if self._stage else ""
        if self._total:
            percent = min(100, self._done * 100 // self._total)
            text = f"progress {self.name} {self._done}/{self._total} {percent}%{stage}"
        elif self._done:
            text = f"progress {self.name} {self._done}/?{stage}"
        else:
            text = f"progress {self.name}{stage or ' started'}"
        if text == self._last_text:
            return  # nothing new to say
        self._last_line, self._last_text = self._clock() if now is None else now, text
        print(text, file=self.out, flush=True)


@contextlib.asynccontextmanager
async def following(events: EventBus, prefix: str, handle: Callable[[Event], None]) -> AsyncIterator[None]:
    """Call ``handle`` with every event whose type starts with ``prefix`` while the block runs."""
    with events.subscription() as queue:

        async def pump() -> None:
            while True:
                event = await queue.get()
                if event.type.startswith(prefix):
                    handle(event)

        task = asyncio.create_task(pump())
        try:
            yield
        finally:
            while not queue.empty():  # the events published just before the work ended
                event = queue.get_nowait()
                if event.type.startswith(prefix):
                    handle(event)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

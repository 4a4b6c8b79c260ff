"""Progress of long operations, on a terminal only: a line that counts up
on stderr when stderr is a terminal, nothing at all otherwise (logs keep
their one line per step and the summary)."""
from __future__ import annotations

import sys
import time
from typing import IO, Any


class Progress:
    """`with Progress("plugging ports", total) as p: ... p.step()`."""

    EVERY = 0.1     # seconds between redraws

    def __init__(self, what: str, total: int | None = None,
                 stream: IO[str] | None = None) -> None:
        self.what, self.total = what, total
        self.done: int | float = 0
        self.stream = stream if stream is not None else sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0.0
        self._shown = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def step(self, n: int = 1, note: str = "") -> None:
        self.update(self.done + n, note)

    def update(self, done: int | float, note: str = "") -> None:
        self.done = done
        if not self.on:
            return
        now = time.monotonic()
        if now - self._drawn < self.EVERY and (self.total is None or done < self.total):
            return
        self._drawn = now
        of = f"/{self.total}" if self.total is not None else ""
        self.stream.write(f"\r{self.what}: {done}{of} {note}\x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

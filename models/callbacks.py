"""How a core call talks back to its caller: progress, cancel, log lines and warnings.

One small object instead of four loose callables, so QGIS (feedback), a notebook and a Dask
worker (a logger) each pass what they have, and a warning has exactly one channel:
``callbacks.warn(text)``. By default log lines and warnings go to stderr (never stdout, which
may carry a caller's machine-readable output), so a core function runs as is.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Callable

from .errors import Cancelled


def no_progress(_fraction: float) -> None:
    pass


def never_cancelled() -> bool:
    return False


def print_log(text: str) -> None:
    print(text, file=sys.stderr)


def print_warning(text: str) -> None:
    print(f"Warning: {text}", file=sys.stderr)


@dataclass(frozen=True)
class Callbacks:
    progress: Callable[[float], None] = no_progress  # fraction done, 0..1
    is_cancelled: Callable[[], bool] = never_cancelled
    log: Callable[[str], None] = print_log
    warn: Callable[[str], None] = print_warning

    def part(self, start: float, end: float) -> "Callbacks":
        """The same callbacks for one stage of a run, its progress mapped into [start, end]."""
        outer = self.progress
        return replace(self, progress=lambda f: outer(start + (end - start) * f))

    def check_cancelled(self, what: str = "the run") -> None:
        if self.is_cancelled():
            raise Cancelled(f"{what} was cancelled; no output was written")

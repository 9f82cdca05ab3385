"""Outputs written so that none looks complete before all are: small files (reports, cards,
models) here, and the temporary names every writer uses.

A file being written is named ``<name>.<8 hex>.partial<suffix>`` beside its destination, visible
so that a user can see and delete what a killed run (SIGTERM, SIGKILL, power cut) left, and
removed by the next run to the same destination (``remove_leftovers``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import uuid
from pathlib import Path


def partial_path(final: str | os.PathLike, suffix: str = "") -> Path:
    """The temporary name of ``final`` while it is written (``suffix`` keeps a format's
    extension, e.g. ".tif", for drivers that choose by extension)."""
    final = Path(final)
    return final.with_name(f"{final.name}.{uuid.uuid4().hex[:8]}.partial{suffix}")


def remove_leftovers(final: str | os.PathLike) -> list[Path]:
    """Delete what earlier runs to ``final`` left half-written (their temporary files and
    sidecars, including the hidden names of earlier versions); returns what was removed."""
    final = Path(final)
    name, stem = glob.escape(final.name), glob.escape(final.stem)
    patterns = (f"{name}.*.partial*", f".{name}.*.partial*", f".{stem}.*.partial.*")
    removed = []
    for pattern in patterns:
        for leftover in final.parent.glob(pattern):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(leftover)
    return removed


def write_files(contents: dict) -> list[Path]:
    """Write {path: str | bytes} under temporary names beside each target, then rename them all
    into place; on any failure nothing is renamed and the temporary files are removed."""
    staged = []
    try:
        for path, payload in contents.items():
            final = Path(path)
            final.parent.mkdir(parents=True, exist_ok=True)
            remove_leftovers(final)
            temp = partial_path(final)
            staged.append((temp, final))
            if isinstance(payload, str):
                payload = payload.encode("utf-8")
            temp.write_bytes(payload)
        for temp, final in staged:
            os.replace(temp, final)
    finally:
        for temp, _ in staged:
            if temp.exists():
                temp.unlink()
    return [final for _, final in staged]

"""Small files (reports, cards, models) written so that none looks complete before all are."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_files(contents: dict) -> list[Path]:
    """Write {path: str | bytes} under temporary names beside each target, then rename them all
    into place; on any failure nothing is renamed and the temporary files are removed."""
    staged = []
    try:
        for path, payload in contents.items():
            final = Path(path)
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.partial")
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

"""The batch's record in its output folder: one JSON object per line, appended and flushed as
each scene ends, so a killed client leaves a manifest that is true up to its last line.

Lines are ``{"record": "run", ...}`` when a run starts (tool, parameters, their key),
``{"record": "scene", ...}`` when a scene ends (status, times, worker, outputs with sha256, card,
weights sha256, versions, error) and ``{"record": "summary", ...}`` when a run ends. A scene's
last line says its state.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import UserError
from ..hub import sha256_file

MANIFEST_NAME = "rsai_batch_manifest.jsonl"


def run_key(tool: str, parameters: dict, scene_parameter: str, bands: dict | None = None) -> str:
    """What makes two runs the same: the tool and its parameters (outputs aside), and how
    scenes are split into row bands, if they are."""
    identity = {"tool": tool, "parameters": parameters, "scene_parameter": scene_parameter}
    if bands:
        identity["bands"] = bands
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Manifest:
    def __init__(self, folder: Path):
        self.path = Path(folder) / MANIFEST_NAME

    def records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:  # a line cut short by a kill: everything before it holds
                if number != len(self.path.read_text(encoding="utf-8").splitlines()):
                    raise UserError(f"{self.path} line {number} is not JSON; move the file away "
                                    "to start the batch afresh.")
        return records

    def check_same_run(self, key: str, accept_other: bool = False) -> None:
        """Refuse a folder holding another run's results unless the caller says to go on."""
        runs = [r for r in self.records() if r.get("record") == "run"]
        other = [r for r in runs if r.get("run_key") != key]
        if other and not accept_other:
            previous = other[-1]
            raise UserError(
                f"OUTPUT_FOLDER holds the manifest of another run ({previous.get('tool')} with "
                f"parameters {json.dumps(previous.get('parameters'), sort_keys=True)}); its "
                "outputs would be mixed with this run's. Choose another OUTPUT_FOLDER, or on the "
                "command line add --accept-other-parameters to continue in this one.")

    def last_by_scene(self) -> dict[str, dict]:
        last = {}
        for record in self.records():
            if record.get("record") == "scene":
                last[record["scene"]] = record
        return last

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def outputs_intact(record: dict, folder: Path) -> str | None:
    """None when a done scene's outputs all still match their sha256, else why not."""
    if record.get("status") != "done":
        return f"its last attempt {record.get('status')}"
    for name, output in record.get("outputs", {}).items():
        path = Path(folder) / output["path"]
        if not path.is_file():
            return f"its {name} {path.name} is missing"
        if sha256_file(path) != output["sha256"]:
            return f"its {name} {path.name} changed since it was written (sha256 differs)"
    return None

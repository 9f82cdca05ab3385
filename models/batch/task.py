"""One scene on a worker: the core tool on one raster, outputs named after the scene, their
sha256, and where and with what it ran. Imports no QGIS; weights come from the cache the client
filled (offline here) and are checked against the client's sha256 before use."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .. import files
from ..callbacks import Callbacks
from ..errors import UserError
from ..hub import WeightsStore, sha256_file
from ..runtime.raster import open_raster
from ..tools import ToolEnvironment, find_tool

LOG = logging.getLogger("rsai.batch")
PLUGIN_METADATA = Path(__file__).resolve().parents[2] / "metadata.txt"


@dataclass(frozen=True)
class SceneJob:
    tool: str
    parameters: dict  # the tool's parameters, this scene's input and outputs filled in
    scene: str
    source: str
    output_folder: str
    cache_dir: str
    card_dirs: tuple = ()
    weights_sha256: str | None = None  # what the client fetched; None: the tool takes none
    outputs: dict = field(default_factory=dict)  # output parameter -> path


def versions() -> dict[str, str | None]:
    found = {"plugin": None, "onnxruntime": None, "torch": None, "gdal": None}
    for line in PLUGIN_METADATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            found["plugin"] = line.split("=", 1)[1].strip()
    for package in ("onnxruntime", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    from osgeo import gdal
    found["gdal"] = gdal.__version__
    return found


def remove_leftovers(outputs: dict) -> None:
    """Temporary files a killed attempt left beside this scene's outputs."""
    for path in outputs.values():
        files.remove_leftovers(path)


def worker_name() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def run_scene(job: SceneJob) -> dict:
    """The scene's manifest record; a failure is recorded (status failed, error), not raised,
    so the client decides about retries."""
    record = {"record": "scene", "scene": job.scene, "source": job.source, "tool": job.tool,
              "start": time.time(), "worker": worker_name(), "host": socket.gethostname(),
              "pid": os.getpid(), "versions": versions(), "outputs": {}}
    try:
        tool = find_tool(job.tool)
        environment = ToolEnvironment(WeightsStore(Path(job.cache_dir), offline=True),
                                      tuple(map(Path, job.card_dirs)))
        remove_leftovers(job.outputs)
        open_raster(job.source, f"scene {job.scene}").FlushCache()  # not a raster: say so now
        model = tool.resolve_model(job.parameters, environment, Callbacks(log=LOG.info))
        if model is not None:
            found = sha256_file(model.weights)
            if job.weights_sha256 and found != job.weights_sha256:
                raise UserError(f"the weights this worker reads ({model.weights}) have sha256 "
                                f"{found}, not the client's {job.weights_sha256}; give the "
                                "workers the same cache folder (or clear theirs).")
            record.update(card=model.card.id, weights_sha256=found)
        tool.run(job.parameters, environment, Callbacks(log=LOG.info, warn=LOG.warning))
        record["outputs"] = {name: {"path": os.path.relpath(path, job.output_folder),
                                    "sha256": sha256_file(path)}
                             for name, path in job.outputs.items()}
        record["status"] = "done"
        record["qgis_in_worker"] = "qgis" in sys.modules  # a worker needs no QGIS: tests check
    except UserError as exc:
        record.update(status="failed", error=str(exc), user_error=True)
    except Exception as exc:  # anything else: recorded with its type, retried by the client
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", user_error=False)
    finally:
        remove_leftovers(job.outputs)
    record["end"] = time.time()
    return record

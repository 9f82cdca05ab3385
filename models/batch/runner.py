"""The client side of a batch: list the scenes, fetch the weights once, skip what the manifest
says is done, submit one Dask task per remaining scene, record each as it ends, retry failures.

The scheduling itself is Dask's (distributed): a LocalCluster on this machine when no scheduler
address is given, else the running dask-scheduler at that address.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..callbacks import Callbacks
from ..errors import Cancelled, UserError
from ..hub import WeightsStore, sha256_file
from ..tools import ToolEnvironment, find_tool
from . import bands
from .manifest import Manifest, outputs_intact, run_key
from .scenes import Scene, list_scenes
from .task import SceneJob, run_scene

SCHEDULER_TIMEOUT_S = 10


@dataclass
class BatchSpec:
    tool: str
    parameters: dict
    scenes: str
    output_folder: str
    cache_dir: str  # the weights cache the client fills and the workers read
    scene_parameter: str = "INPUT"
    asset: str = ""
    scheduler: str = ""
    workers: int = 2
    threads_per_worker: int = 1
    gpus_per_worker: int = 0
    retries: int = 2
    card_dirs: tuple = ()
    offline: bool = False
    accept_other_parameters: bool = False
    scheduler_timeout_s: float = SCHEDULER_TIMEOUT_S
    band_rows: int = 0  # > 0: scenes taller than this run as row bands on several workers
    band_halo: int | None = None  # rows each band reads past its own; None: the tile overlap
    merge_bands: bool = False  # also write a merged GeoTIFF beside each joined VRT


@dataclass
class BatchSummary:
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    manifest: str = ""
    dashboard: str = ""
    errors: dict = field(default_factory=dict)  # scene -> last error


@dataclass
class Progress:
    """What a progress display needs after each scene."""
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    started: float = field(default_factory=time.time)
    last: dict | None = None  # the record just written
    finished: list = field(default_factory=list)  # names of the tasks done in this run


@dataclass
class Plan:
    tool: object
    base: dict  # the tool's parameters without the scene and the outputs
    scenes: list
    outputs: Callable  # Scene -> {output name: path}
    manifest: Manifest
    key: str
    weights_sha256: str | None
    halo: int


def prepare(spec: BatchSpec, callbacks: Callbacks) -> Plan:
    """Everything checked before any cluster starts: tool, parameters, scenes, folder, manifest,
    weights (fetched here, once)."""
    tool = find_tool(spec.tool)
    if not isinstance(spec.parameters, dict):
        raise UserError("PARAMETERS must be a JSON object of the tool's parameters, e.g. "
                        '{"MODEL": "model.onnx"}.')
    names = {p.name: p for p in tool.parameters}
    if spec.scene_parameter not in names or names[spec.scene_parameter].kind != "raster":
        rasters = [p.name for p in tool.parameters if p.kind == "raster"]
        raise UserError(f"SCENE_PARAMETER {spec.scene_parameter!r} is not a raster parameter of "
                        f"{tool.id}; choose one of {', '.join(rasters)}.")
    output_names = {p.name for p in tool.outputs}
    base = {k: v for k, v in spec.parameters.items() if k not in output_names}
    wanted = [p for p in tool.outputs if p.required or spec.parameters.get(p.name)]
    if spec.scene_parameter in base:
        raise UserError(f"PARAMETERS sets {spec.scene_parameter}, which each scene fills; "
                        "remove it (the scenes come from SCENES).")
    scenes = list_scenes(spec.scenes, spec.asset)
    folder = Path(spec.output_folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)

    def outputs(scene: Scene) -> dict:
        return {p.name: str(folder / scene.subfolder / f"{scene.name}_{p.name}{p.extension}")
                for p in wanted}

    sources = {str(Path(s.source).resolve()) for s in scenes if not s.source.startswith("/vsi")}
    for scene in scenes:
        for path in outputs(scene).values():
            if path in sources:
                raise UserError(f"the output {path} would replace a scene; choose another "
                                "OUTPUT_FOLDER.")
    normalised = tool.values({**base, spec.scene_parameter: scenes[0].source,
                              **outputs(scenes[0])})
    key = run_key(tool.id, {k: v for k, v in normalised.items()
                            if k not in output_names and k != spec.scene_parameter},
                  spec.scene_parameter,
                  {"rows": spec.band_rows, "halo": spec.band_halo, "merge": spec.merge_bands}
                  if spec.band_rows > 0 else None)
    manifest = Manifest(folder)
    manifest.check_same_run(key, spec.accept_other_parameters)
    store = WeightsStore(Path(spec.cache_dir), offline=spec.offline, log=callbacks.log)
    model = tool.resolve_model({**base, spec.scene_parameter: scenes[0].source,
                                **outputs(scenes[0])},
                               ToolEnvironment(store, tuple(map(Path, spec.card_dirs))),
                               callbacks.part(0, 0.05))
    weights_sha256 = sha256_file(model.weights) if model is not None else None
    if model is not None:
        callbacks.log(f"Model {model.card.id}: weights {model.weights} (sha256 {weights_sha256})")
    halo = spec.band_halo
    if halo is None:
        halo = normalised.get("OVERLAP")
        if halo is None:
            halo = model.card.tiling.overlap if model is not None else 0
    return Plan(tool, base, scenes, outputs, manifest, key, weights_sha256, int(halo))


def connect(spec: BatchSpec):
    """(client, cluster or None): a LocalCluster of WORKERS processes, or the scheduler at
    SCHEDULER, which must answer within the timeout."""
    from distributed import Client, LocalCluster

    if spec.scheduler.strip():
        try:
            return Client(spec.scheduler.strip(), timeout=spec.scheduler_timeout_s), None
        except (OSError, TimeoutError) as exc:
            raise UserError(f"no Dask scheduler answered at {spec.scheduler} within "
                            f"{spec.scheduler_timeout_s:g} s ({type(exc).__name__}). Start one "
                            "(dask scheduler; workers with dask worker ADDRESS) and give its "
                            "address, e.g. tcp://10.0.0.5:8786, or leave SCHEDULER empty to run "
                            "on this machine.")
    use_python_for_workers()
    resources = {"GPU": spec.gpus_per_worker} if spec.gpus_per_worker else None
    cluster = LocalCluster(n_workers=max(1, spec.workers),
                           threads_per_worker=max(1, spec.threads_per_worker), processes=True,
                           dashboard_address=":0", resources=resources)
    return Client(cluster), cluster


def use_python_for_workers() -> None:
    """Worker processes start a Python interpreter. Inside QGIS, sys.executable is QGIS itself
    or whatever ``python3`` is first on PATH (maybe another version): point multiprocessing at
    the interpreter QGIS embeds, the one under sys.exec_prefix."""
    executable = Path(sys.executable)
    prefixes = {Path(p) for p in (sys.prefix, sys.exec_prefix, sys.base_exec_prefix)}
    if executable.name.lower().startswith("python") and any(
            prefix in executable.parents for prefix in prefixes):
        return
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.exec_prefix) / "bin" / version, Path(sys.exec_prefix) / "python.exe",
                      Path(sys.base_exec_prefix) / "bin" / version):
        if candidate.is_file():
            multiprocessing.set_executable(str(candidate))
            return


def run_batch(spec: BatchSpec, callbacks: Callbacks = Callbacks(), client=None,
              on_progress: Callable[[Progress], None] | None = None) -> BatchSummary:
    """Run the batch; ``client``: an existing distributed Client to use (else one is made
    from the spec and closed at the end)."""
    plan = prepare(spec, callbacks)
    tool, base, outputs, manifest, key = plan.tool, plan.base, plan.outputs, plan.manifest, plan.key
    folder = manifest.path.parent
    summary = BatchSummary(total=len(plan.scenes), manifest=str(manifest.path))
    last = manifest.last_by_scene()
    todo, splits = [], {}
    for scene in plan.scenes:
        why = outputs_intact(last[scene.name], folder) if scene.name in last else "new"
        if why is None:
            summary.skipped += 1
            continue
        if scene.name in last:
            callbacks.log(f"{scene.name}: running again, {why}")
        parts = bands.split(scene, spec.band_rows, plan.halo, folder) if spec.band_rows > 0 \
            else None
        if parts is None:
            todo.append(scene)
            continue
        splits[scene.name] = parts
        for band in parts.bands:  # bands an interrupted run finished are not run again
            if band.scene.name not in last or outputs_intact(last[band.scene.name], folder):
                todo.append(band.scene)
    progress = Progress(total=summary.skipped + len(todo), skipped=summary.skipped)
    manifest.append({"record": "run", "run_key": key, "tool": tool.id, "parameters": base,
                     "scene_parameter": spec.scene_parameter, "scenes": spec.scenes,
                     "asset": spec.asset, "scheduler": spec.scheduler or "LocalCluster",
                     "band_rows": spec.band_rows, "started": time.time(),
                     "total": len(plan.scenes), "to_run": len(todo)})
    callbacks.log(f"{len(plan.scenes)} scenes: {summary.skipped} already done, "
                  f"{len(todo)} tasks to run" + (f" ({len(splits)} scenes in row bands of "
                                                 f"{spec.band_rows} rows, halo {plan.halo})"
                                                 if splits else ""))
    if on_progress:
        on_progress(progress)
    if todo:
        _run_tasks(spec, plan, todo, client, callbacks, progress, summary, on_progress)
    band_names = {band.scene.name for parts in splits.values() for band in parts.bands}
    summary.done = progress.done - sum(1 for name in progress.finished if name in band_names)
    summary.failed = sum(1 for name in summary.errors if name not in band_names)
    last = manifest.last_by_scene()
    for name, parts in splits.items():
        records = [last.get(band.scene.name, {}) for band in parts.bands]
        if all(record.get("status") == "done" for record in records):
            manifest.append(_join(parts, records, outputs, spec.merge_bands, folder, key, base))
            summary.done += 1
        else:
            summary.failed += 1
            summary.errors[name] = "; ".join(f"{band.scene.name}: {summary.errors[band.scene.name]}"
                                             for band in parts.bands
                                             if band.scene.name in summary.errors)
    manifest.append({"record": "summary", "done": summary.done, "skipped": summary.skipped,
                     "failed": summary.failed, "ended": time.time()})
    return summary


def _run_tasks(spec, plan, todo, client, callbacks, progress, summary, on_progress) -> None:
    """One Dask task per scene (or row band); each record appended as it ends; failures other
    than clear user errors resubmitted up to RETRIES times."""
    from distributed import wait

    tool, base, outputs, manifest = plan.tool, plan.base, plan.outputs, plan.manifest
    folder = manifest.path.parent
    own = client is None
    cluster = None
    if own:
        client, cluster = connect(spec)
    summary.dashboard = getattr(client, "dashboard_link", "") or ""
    if summary.dashboard:
        callbacks.log(f"Dask dashboard: {summary.dashboard}")
    resources = {"GPU": 1} if spec.gpus_per_worker else None

    def submit(scene: Scene, attempt: int):
        job = SceneJob(tool.id, {**base, spec.scene_parameter: scene.source, **outputs(scene)},
                       scene.name, scene.source, str(folder), str(spec.cache_dir),
                       tuple(map(str, spec.card_dirs)), plan.weights_sha256, outputs(scene))
        future = client.submit(run_scene, job, key=f"rsai-scene-{scene.name}-{uuid.uuid4().hex}",
                               pure=False, resources=resources)
        return future, (scene, attempt)

    try:
        pending = dict(submit(scene, 1) for scene in todo)
        while pending:
            try:
                finished, _ = wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = []
            if callbacks.is_cancelled():
                client.cancel(list(pending))
                raise Cancelled("the batch was cancelled; finished scenes are in the manifest "
                                "and a re-run skips them")
            for future in finished:
                scene, attempt = pending.pop(future)
                record = _result(future, scene)
                record.update(attempt=attempt, run_key=plan.key, parameters=base)
                retry = (record["status"] == "failed" and not record.get("user_error")
                         and attempt <= spec.retries)
                record["will_retry"] = retry
                manifest.append(record)
                if retry:
                    callbacks.log(f"{scene.name}: attempt {attempt} failed ({record['error']}); "
                                  "retrying")
                    pending.update([submit(scene, attempt + 1)])
                    continue
                if record["status"] == "done":
                    progress.done += 1
                    progress.finished.append(scene.name)
                else:
                    progress.failed += 1
                    summary.errors[scene.name] = record["error"]
                    callbacks.warn(f"scene {scene.name} failed: {record['error']}")
                progress.last = record
                callbacks.progress(0.05 + 0.95 * (progress.done + progress.failed)
                                   / max(1, len(todo)))
                if on_progress:
                    on_progress(progress)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


def _join(parts: "bands.Split", records: list[dict], outputs, merge: bool, folder: Path,
          key: str, base: dict) -> dict:
    """The split scene's record once its bands are joined (a VRT per output, maybe merged)."""
    band_outputs = [{name: str(folder / output["path"]) for name, output in
                     record["outputs"].items()} for record in records]
    joined = {name: str(Path(path).with_suffix(".vrt"))
              for name, path in outputs(parts.scene).items()}
    written = bands.join(parts, band_outputs, joined, merge)
    first = records[0]
    return {"record": "scene", "scene": parts.scene.name, "source": parts.scene.source,
            "status": "done", "tool": first.get("tool"), "card": first.get("card"),
            "weights_sha256": first.get("weights_sha256"), "versions": first.get("versions"),
            "start": min(r["start"] for r in records), "end": time.time(),
            "worker": "client (join of row bands)", "bands": len(records), "run_key": key,
            "parameters": base,
            "outputs": {name: {"path": os.path.relpath(path, folder), "sha256": sha256_file(path)}
                        for name, path in written.items()}}


def _result(future, scene: Scene) -> dict:
    """The task's record, or a failed one when Dask itself gave up (e.g. its workers died)."""
    try:
        return future.result()
    except Exception as exc:  # KilledWorker, CancelledError, ...: the scene did not finish
        now = time.time()
        return {"record": "scene", "scene": scene.name, "source": scene.source,
                "status": "failed", "error": f"{type(exc).__name__}: {exc}", "user_error": False,
                "start": None, "end": now, "worker": None, "outputs": {}}

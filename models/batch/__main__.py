"""Command line of the batch runner (scripts/rsai-batch is this, as an executable):

    python -m models.batch --tool rsai:run_model --parameters '{"MODEL": "m.onnx"}' \\
        --scenes 'tiles/*.tif' --output-folder out --workers 2

The flags are the Processing tool rsai:batch_run's parameters. Prints a progress bar (scenes
done / total, failures, ETA), the dashboard link and, at the end, a JSON line with the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..callbacks import Callbacks
from ..errors import Cancelled, UserError
from .runner import SCHEDULER_TIMEOUT_S, BatchSpec, run_batch


def default_cache_dir() -> str:
    return os.environ.get("RSAI_CACHE_DIR") or str(Path.home() / ".cache" / "rsai" / "weights")


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rsai-batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", required=True, help="tool id, e.g. rsai:run_model")
    parser.add_argument("--parameters", default="{}",
                        help="JSON object of the tool's parameters, or @file.json")
    parser.add_argument("--scenes", required=True,
                        help="a glob (tiles/*.tif), a text file of paths/GDAL URLs, or a STAC "
                             "ItemCollection .json")
    parser.add_argument("--scene-parameter", default="INPUT")
    parser.add_argument("--asset", default="", help="STAC asset key")
    parser.add_argument("--output-folder", required=True)
    parser.add_argument("--scheduler", default="",
                        help="address of a running dask-scheduler; empty: a LocalCluster")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--gpus-per-worker", type=int, default=0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--cache-dir", default=default_cache_dir(),
                        help="weights cache the client fills and workers read "
                             "(default $RSAI_CACHE_DIR or ~/.cache/rsai/weights)")
    parser.add_argument("--cards-dir", action="append", default=[],
                        help="a folder of extra model cards (repeatable)")
    parser.add_argument("--scheduler-timeout", type=float, default=SCHEDULER_TIMEOUT_S)
    parser.add_argument("--accept-other-parameters", action="store_true",
                        help="continue in an OUTPUT_FOLDER whose manifest is another run's")
    parser.add_argument("--band-rows", type=int, default=0,
                        help="split scenes taller than this into row bands run on several "
                             "workers, joined as a VRT (0: whole scenes)")
    parser.add_argument("--band-halo", type=int, default=None,
                        help="rows each band reads past its own (default: the tile overlap)")
    parser.add_argument("--merge-bands", action="store_true",
                        help="also write a merged GeoTIFF beside each joined VRT")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def read_parameters(text: str) -> dict:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        parameters = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--parameters is not JSON ({exc}); give an object such as "
                        '\'{"MODEL": "model.onnx"}\'.')
    if not isinstance(parameters, dict):
        raise UserError("--parameters must be a JSON object of the tool's parameters.")
    return parameters


class ProgressBar:
    """tqdm bar: scenes finished / total, failures in the postfix, ETA from tqdm."""

    def __init__(self, enabled: bool):
        self.bar = None
        self.enabled = enabled

    def __call__(self, progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm
        if self.bar is None:
            self.bar = tqdm(total=progress.total, initial=progress.skipped, unit="scene",
                            file=sys.stderr, dynamic_ncols=True)
        self.bar.n = progress.done + progress.skipped + progress.failed
        self.bar.set_postfix(done=progress.done, skipped=progress.skipped,
                             failed=progress.failed, refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    bar = ProgressBar(not arguments.no_progress)
    try:
        spec = BatchSpec(
            tool=arguments.tool, parameters=read_parameters(arguments.parameters),
            scenes=arguments.scenes, output_folder=arguments.output_folder,
            cache_dir=arguments.cache_dir, scene_parameter=arguments.scene_parameter,
            asset=arguments.asset, scheduler=arguments.scheduler, workers=arguments.workers,
            threads_per_worker=arguments.threads_per_worker,
            gpus_per_worker=arguments.gpus_per_worker, retries=arguments.retries,
            card_dirs=tuple(arguments.cards_dir),
            accept_other_parameters=arguments.accept_other_parameters,
            scheduler_timeout_s=arguments.scheduler_timeout, band_rows=arguments.band_rows,
            band_halo=arguments.band_halo, merge_bands=arguments.merge_bands)
        summary = run_batch(spec, Callbacks(), on_progress=bar)
    except (UserError, Cancelled) as exc:
        bar.close()
        print(f"rsai-batch: {exc}", file=sys.stderr)
        return 2
    bar.close()
    for scene, error in summary.errors.items():
        print(f"failed: {scene}: {error}", file=sys.stderr)
    print(json.dumps({"DONE": summary.done, "SKIPPED": summary.skipped,
                      "FAILED": summary.failed, "OUTPUT_MANIFEST": summary.manifest}))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())

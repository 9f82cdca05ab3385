"""Batch runs on Dask: scenes per minute with 1 and 2 local workers versus the plain sequential
loop over the same core entry, and the scheduler's overhead per scene.

Printed, never asserted. The scenes are 8-band Sentinel-2-like stacks through the FTW U-Net
(rsai:farmland_segmentation, random weights: speed does not depend on their values), so the
sequential per-scene time also gives the per-pixel cost docs/batch.md scales up to a country.
The cluster's start is timed apart from the scenes. Sizes are arguments:

    .venv/bin/python bench/bench_batch.py [--scenes 6] [--size 256] [--tile 256]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build" / "plugins"))
from rsai_toolbox.models.batch import BatchSpec, run_batch  # noqa: E402
from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.hub import WeightsStore  # noqa: E402
from rsai_toolbox.models.tools import FARMLAND_SEGMENTATION, ToolEnvironment  # noqa: E402


QUIET = Callbacks(log=lambda text: None, warn=lambda text: None)


def _srs() -> str:
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return srs.ExportToWkt()


EPSG_32633 = _srs()


def make_scene(path: Path, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 8, gdal.GDT_UInt16,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000, 10, 0, 5300000, 0, -10))
    ds.SetProjection(EPSG_32633)
    ds.WriteRaster(0, 0, size, size, rng.integers(100, 5000, (8, size, size), np.uint16).tobytes())
    ds = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tile", type=int, default=256)
    arguments = parser.parse_args()
    import distributed
    import torch
    from rsai_toolbox.models.farmland.ftw import build_ftw_unet

    root = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    weights = root / "ftw.pth"
    torch.manual_seed(0)
    torch.save(build_ftw_unet(3).state_dict(), weights)
    (root / "scenes").mkdir()
    for i in range(arguments.scenes):
        make_scene(root / "scenes" / f"s{i}.tif", arguments.size, i)
    parameters = {"MODEL": "ftw-3class", "WEIGHTS": str(weights), "DEVICE": "cpu",
                  "TILE_SIZE": arguments.tile, "OVERLAP": 0}
    n = arguments.scenes
    print(f"{n} scenes of 8 x {arguments.size} x {arguments.size} px, FTW U-Net "
          f"(efficientnet-b3), tile {arguments.tile}, CPU, torch threads {torch.get_num_threads()}")

    environment = ToolEnvironment(WeightsStore(root / "cache"))
    FARMLAND_SEGMENTATION.run({**parameters, "INPUT": str(root / "scenes" / "s0.tif"),
                               "OUTPUT": str(root / "warm.tif")}, environment, QUIET)  # imports, caches
    started = time.perf_counter()
    for i in range(n):
        FARMLAND_SEGMENTATION.run({**parameters, "INPUT": str(root / "scenes" / f"s{i}.tif"),
                                   "OUTPUT": str(root / "seq" / f"s{i}.tif")}, environment, QUIET)
    sequential = time.perf_counter() - started
    per_scene = sequential / n
    mpix = arguments.size ** 2 / 1e6
    print(f"sequential loop: {sequential:.1f} s, {60 / per_scene:.1f} scenes/min, "
          f"{per_scene:.2f} s/scene, {per_scene / mpix:.2f} s/Mpix")

    for workers in (1, 2):
        started = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        startup = time.perf_counter() - started
        spec = BatchSpec("rsai:farmland_segmentation", parameters,
                         str(root / "scenes" / "*.tif"), str(root / f"out{workers}"),
                         str(root / "cache"))
        run_batch(BatchSpec(spec.tool, parameters, str(root / "scenes" / "s0.tif"),
                            str(root / f"warm{workers}"), spec.cache_dir),
                  QUIET, client=client)  # each worker imports torch once, as a long run would
        client.run(lambda: None)
        started = time.perf_counter()
        summary = run_batch(spec, QUIET, client=client)
        wall = time.perf_counter() - started
        client.close()
        cluster.close()
        overhead = (wall * workers - sequential) / n
        print(f"{workers} worker(s): cluster start {startup:.1f} s; {summary.done} scenes in "
              f"{wall:.1f} s = {60 * n / wall:.1f} scenes/min ({sequential / wall:.2f}x the "
              f"sequential loop); overhead per scene {overhead:+.2f} s "
              "(worker-seconds beyond the loop's)")


if __name__ == "__main__":
    main()

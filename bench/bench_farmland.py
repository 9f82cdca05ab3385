"""FTW U-Net on CPU: Mpix/s at 10 m, torch versus ONNX, and the engine versus the raw model.

Printed as ratios measured in this one run, never asserted:

1. torch (eager, inference_mode) versus onnxruntime on an ONNX export of the same network
   (``torch.onnx.export(..., dynamo=False)``), same tiles, same threads;
2. the engine end to end (reading the two dates of an 8-band GeoTIFF, normalising, blending,
   writing compressed classes + probabilities) versus the raw torch model on the same tiles
   already in memory.

The raw loops run in one worker thread, as the engine runs its model: on a small machine torch
called from the main thread measured several times slower than from a worker thread, which
would flatter the engine. Random weights (speed does not depend on their values). Sizes are
arguments:

    .venv/bin/python bench/bench_farmland.py [--size 768] [--tile 256] [--overlap 32]
"""

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build" / "plugins"))
from rsai_toolbox.models.farmland.ftw import build_ftw_unet  # noqa: E402
from rsai_toolbox.models.registry import find_card  # noqa: E402
from rsai_toolbox.models.runtime.onnx_export import export_onnx  # noqa: E402
from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.farmland.segment import segment_fields  # noqa: E402
from rsai_toolbox.models.runtime.backends import (onnx_predictor, stacked,  # noqa: E402
                                                  torch_predictor)
from rsai_toolbox.models.runtime.engine import RunOptions  # noqa: E402
from rsai_toolbox.models.runtime.tiling import TileGrid  # noqa: E402


def make_raster(path: Path, size: int) -> None:
    rng = np.random.default_rng(0)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 8, gdal.GDT_UInt16,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000, 10, 0, 5300000, 0, -10))
    for b in range(8):
        ds.GetRasterBand(b + 1).WriteArray(rng.integers(100, 5000, (size, size), dtype=np.uint16))
    ds = None


def best_of(repeats, function):
    """Shortest of ``repeats`` runs of ``function``, each in a fresh worker thread."""
    times = []
    for _ in range(repeats):
        with ThreadPoolExecutor(1) as worker:
            start = time.perf_counter()
            worker.submit(function).result()
            times.append(time.perf_counter() - start)
    return min(times)


def timed(function) -> float:
    """Wall time of ``function`` called here (the engine starts its own model thread)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768, help="raster side in pixels")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    card = find_card("ftw-3class")
    model = build_ftw_unet(3).eval()
    torch_model = torch_predictor(model, "cpu", threads)
    engine_model = stacked(torch_model, ["date_a", "date_b"])
    grid = TileGrid(args.size, args.size, args.tile, args.overlap)
    rng = np.random.default_rng(1)
    tiles = [{"input": rng.random((1, 8, args.tile, args.tile), dtype=np.float32)}
             for _ in range(len(grid))]
    mpix = args.size * args.size / 1e6
    tile_mpix = len(grid) * args.tile * args.tile / 1e6

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        onnx_path = folder / "ftw.onnx"
        export_onnx(model, {"image": torch.zeros(1, 8, args.tile, args.tile)}, onnx_path,
                    ["logits"], dynamic_size=False)
        onnx_model = onnx_predictor(onnx_path, "cpu", threads)
        a = torch_model(tiles[0])["output"]
        b = onnx_model(tiles[0])["logits"]
        print(f"torch vs ONNX outputs: max |difference| {np.abs(a - b).max():.2e}")

        raw_torch = best_of(args.repeats, lambda: [torch_model(t) for t in tiles])
        raw_onnx = best_of(args.repeats, lambda: [onnx_model(t) for t in tiles])
        raster = folder / "stack.tif"
        make_raster(raster, args.size)
        engine = min(timed(lambda: segment_fields(
            card, engine_model, str(folder / "classes.tif"), str(folder / "probabilities.tif"),
            stack=str(raster), options=RunOptions(tile_size=args.tile, overlap=args.overlap),
            callbacks=Callbacks(log=lambda m: None))) for _ in range(args.repeats))

    print(f"FTW U-Net (efficientnet-b3, 8 bands) on CPU, {threads} threads; raster "
          f"{args.size} x {args.size} px at 10 m = {mpix * 100:.1f} km^2, {len(grid)} tiles of "
          f"{args.tile} px (overlap {args.overlap}; {tile_mpix / mpix:.2f} x the raster's pixels)")
    print(f"  raw torch         {raw_torch:7.2f} s  {mpix / raw_torch:6.3f} Mpix/s of raster")
    print(f"  raw onnxruntime   {raw_onnx:7.2f} s  {mpix / raw_onnx:6.3f} Mpix/s "
          f"(torch/onnx time ratio {raw_torch / raw_onnx:.2f})")
    print(f"  engine            {engine:7.2f} s  {mpix / engine:6.3f} Mpix/s "
          f"(engine/raw torch ratio {engine / raw_torch:.2f})")


if __name__ == "__main__":
    main()

"""Engine overhead and memory, printed as ratios measured in this run (never asserted).

1. Speed: run_model's engine end to end (GDAL reads, normalisation, blending, compressed block
   writes) on a SIZE x SIZE x 4 raster, against raw onnxruntime on the same tiles already in
   memory: same model, same threads, same tile size. Goal: ratio <= 1.15.
2. Memory: peak resident memory of a whole run on two raster sizes, each in a fresh process.
   Goal: equal within 20 % (streaming, not proportional to the raster).

    .venv/bin/python bench/bench_engine.py [--size 8192] [--widths 16 48] [--memory-sizes 8192 16384]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build" / "plugins"))
from rsai_toolbox.models.cards import card_from_dict  # noqa: E402
from rsai_toolbox.models.runtime.backends import onnx_predictor  # noqa: E402
from rsai_toolbox.models.runtime.conv_onnx import write_conv_onnx  # noqa: E402
from rsai_toolbox.models.runtime.engine import RunOptions, run_on_raster  # noqa: E402
from rsai_toolbox.models.runtime.tiling import TileGrid  # noqa: E402

TILE, OVERLAP, THREADS = 512, 32, 2


def make_raster(path: Path, size: int) -> None:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 4, gdal.GDT_UInt16,
                                              ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=YES"])
    ds.SetGeoTransform((500000, 10, 0, 5300000, 0, -10))
    row = (np.arange(size) % 2000).astype(np.uint16)
    for b in range(4):
        band = ds.GetRasterBand(b + 1)
        for y in range(0, size, 1024):
            rows = min(1024, size - y)
            band.WriteArray(np.tile(row + b * 500 + y % 997, (rows, 1)), 0, y)
    ds = None


def make_cnn(path: Path, hidden: int) -> Path:
    """A small fully convolutional network: three 3x3 layers, 4 bands in, 3 classes out."""
    import torch

    layers = torch.nn.Sequential(torch.nn.Conv2d(4, hidden, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(hidden, hidden, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(hidden, 3, 3, padding=1)).eval()
    torch.onnx.export(layers, torch.zeros(1, 4, TILE, TILE), str(path), input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
                      dynamo=False)
    return path


def card():
    return card_from_dict({"id": "bench", "task": "segmentation", "format": "onnx",
                           "inputs": {"bands": ["b1", "b2", "b3", "b4"], "scale": 10000,
                                      "tile_size": TILE, "overlap": OVERLAP},
                           "outputs": {"classes": [{"value": i, "name": str(i)} for i in range(3)]}})


def speed(workdir: Path, size: int, widths: list[int]) -> None:
    """Engine vs raw onnxruntime, for CNNs of a few widths (the engine's cost per pixel is
    fixed, so its share shrinks as the model grows)."""
    raster = workdir / f"in_{size}.tif"
    make_raster(raster, size)
    grid = TileGrid(size, size, TILE, OVERLAP)
    ds = gdal.Open(str(raster))
    tiles = []
    for t in grid:  # the same tiles, read and normalised beforehand
        window = ds.ReadAsArray(t.x, t.y, t.width, t.height).astype(np.float32) / 10000
        tiles.append(np.pad(window, ((0, 0), (0, TILE - t.height), (0, TILE - t.width))))
    mpix = size * size / 1e6
    print(f"speed  {size}x{size}x4, {len(grid)} tiles of {TILE} (overlap {OVERLAP}), "
          f"{THREADS} threads")
    for hidden in widths:
        model = make_cnn(workdir / f"cnn{hidden}.onnx", hidden)
        predictor = onnx_predictor(model, "cpu", THREADS)
        start = time.perf_counter()
        for tile in tiles:
            predictor(tile[None])
        raw = time.perf_counter() - start
        start = time.perf_counter()
        run_on_raster(str(raster), card(), predictor, str(workdir / "out.tif"),
                      log=lambda message: None)
        engine = time.perf_counter() - start
        print(f"  CNN width {hidden:3d}: raw onnxruntime on in-memory tiles {raw:6.1f} s "
              f"({mpix / raw:5.1f} Mpix/s), engine end to end {engine:6.1f} s "
              f"({mpix / engine:5.1f} Mpix/s), ratio {engine / raw:.3f} (goal <= 1.15)")
    raster.unlink()


def peak_rss_of_run(raster: Path, model: Path, out: Path) -> float:
    """Run the engine in a fresh process and return its peak resident memory in MiB."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
            f"import bench_engine as b;"
            f"from rsai_toolbox.models.runtime.backends import onnx_predictor;"
            f"b.run_on_raster({str(raster)!r}, b.card(), onnx_predictor({str(model)!r}, 'cpu', 2),"
            f" {str(out)!r}, log=lambda m: None);"
            f"print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--widths", type=int, nargs="*", default=[16, 48],
                        help="CNN widths for the speed runs")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[8192, 16384])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        speed(workdir, args.size, args.widths)
        # Memory does not depend on the model's cost: a per-pixel model keeps the run short.
        model = write_conv_onnx(workdir / "pointwise.onnx",
                                np.ones((3, 4, 1, 1), np.float32), np.zeros(3, np.float32))
        peaks = []
        for size in args.memory_sizes:
            raster = workdir / f"in_{size}.tif"
            if not raster.exists():
                make_raster(raster, size)
            peaks.append(peak_rss_of_run(raster, model, workdir / f"mem_{size}.tif"))
            raster.unlink()
            print(f"memory {size}x{size}x4: peak RSS {peaks[-1]:.0f} MiB")
        if len(peaks) == 2:
            print(f"  ratio peak {args.memory_sizes[1]} / {args.memory_sizes[0]}: "
                  f"{peaks[1] / peaks[0]:.3f}   (goal <= 1.20)")


if __name__ == "__main__":
    main()

"""Engine overhead and memory, printed as ratios measured in this run (never asserted).

1. dense: the reference conv net (5 conv layers of 32 channels, 3 -> 3) on a 3-band SIZE^2
   raster, tiles of 512 with 10 % overlap: the engine end to end (GDAL reads, normalisation,
   blending, compressed writes) against raw onnxruntime on the same tiles already in memory,
   same threads; then where the engine's extra time goes (each stage timed alone), and the
   whole `qgis_process run rsai:run_model` call. Goals: engine <= 1.10 x raw, the whole call
   <= 1.25 x raw.
2. two inputs: an aerial-like 8192^2 RGB raster plus a 10-band raster at 1/40 of its
   resolution through a small two-input network, against raw onnxruntime on the same inputs
   read beforehand. Goal <= 1.15.
3. patch head: 50 x 50 windows at stride 50 and 25 over a 4096^2 two-band raster, against the
   raw network on the same windows in memory.
4. memory: peak resident memory of a whole dense run on two raster sizes, each in a fresh
   process. Goal: equal within 20 % (streaming, not proportional to the raster).

    .venv/bin/python bench/bench_engine.py [--size 4096] [--skip-qgis] [--memory-sizes 8192 16384]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "plugins"))
from rsai_toolbox.models.cards import card_from_dict  # noqa: E402
from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.runtime.backends import onnx_predictor  # noqa: E402
from rsai_toolbox.models.runtime.engine import (Destination, RunOptions, _read_batch,  # noqa: E402
                                                run, tile_grid)
from rsai_toolbox.models.runtime.sources import open_sources  # noqa: E402
from rsai_toolbox.models.runtime.tiling import Blender  # noqa: E402

TILE, OVERLAP, THREADS = 512, 52, 2
QUIET = Callbacks(log=lambda m: None, warn=lambda m: None)


def make_raster(path: Path, size: int, bands: int = 3, pixel: float = 10.0) -> Path:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, bands, gdal.GDT_UInt16,
                                              ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=YES"])
    ds.SetGeoTransform((500000, pixel, 0, 5300000, 0, -pixel))
    row = (np.arange(size) % 2000).astype(np.uint16)
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        for y in range(0, size, 1024):
            rows = min(1024, size - y)
            band.WriteArray(np.tile(row + b * 500 + y % 997, (rows, 1)), 0, y)
    ds = None
    return path


def export(module, inputs: dict, path: Path) -> Path:
    from rsai_toolbox.models.runtime.onnx_export import export_onnx
    return export_onnx(module, inputs, path)


def reference_net(path: Path) -> Path:
    """The issue's reference: 5 conv layers of 32 channels, 3 bands in, 3 classes out."""
    import torch
    layers = [torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU()]
    for _ in range(3):
        layers += [torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU()]
    layers.append(torch.nn.Conv2d(32, 3, 3, padding=1))
    return export(torch.nn.Sequential(*layers), {"input": torch.zeros(1, 3, TILE, TILE)}, path)


def dense_card():
    return card_from_dict({"id": "bench", "task": "segmentation", "format": "onnx",
                           "inputs": [{"bands": ["b1", "b2", "b3"], "scale": 10000}],
                           "tiling": {"tile_size": TILE, "overlap": OVERLAP},
                           "outputs": {"classes": [{"value": i, "name": str(i)} for i in range(3)]}})


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def dense(workdir: Path, size: int, qgis: bool) -> None:
    raster = make_raster(workdir / f"dense_{size}.tif", size)
    model = reference_net(workdir / "reference.onnx")
    card, predictor = dense_card(), onnx_predictor(model, "cpu", THREADS)
    sources = open_sources(card, {"input": str(raster)})
    grid = tile_grid(card, sources["input"].grid, RunOptions())
    tiles = list(grid)
    read = timed(lambda: [_read_batch(card, sources, [t], TILE) for t in tiles])
    batches = [_read_batch(card, sources, [t], TILE)[0] for t in tiles]  # in memory
    raw = timed(lambda: [predictor(b) for b in batches])
    outputs = [predictor(b)["output"] for b in batches[:4]]
    blender = Blender(grid, 3)
    blend = timed(lambda: [blender.add(t, outputs[i % 4][0][:, :t.height, :t.width].copy())
                           for i, t in enumerate(tiles)])
    out = workdir / "dense_out.tif"
    engine = timed(lambda: run(card, predictor, {"input": str(raster)}, [Destination(str(out))],
                               callbacks=QUIET))
    mpix = size * size / 1e6
    print(f"dense  {size}^2 x 3 bands, {len(tiles)} tiles of {TILE} (overlap {OVERLAP}), "
          f"reference net (5 x conv 32), {THREADS} threads")
    print(f"  raw onnxruntime on in-memory tiles {raw:7.2f} s ({mpix / raw:5.2f} Mpix/s)")
    print(f"  engine end to end                  {engine:7.2f} s ({mpix / engine:5.2f} Mpix/s)"
          f"   ratio {engine / raw:.3f} (goal <= 1.10)")
    print(f"  stages alone: read + fill + normalise {read:.2f} s, blend {blend:.2f} s; "
          f"the rest (argmax, compressed writes, thread hand-over) "
          f"{max(0.0, engine - raw - read - blend):.2f} s beyond their sum with predict")
    if qgis:
        whole = timed(lambda: subprocess.run(
            [str(REPO / "scripts" / "qgis_process"), "run", "rsai:run_model", "--",
             f"INPUT={raster}", f"MODEL={model}", "DEVICE=1", f"OUTPUT={workdir / 'qp.tif'}"],
            check=True, capture_output=True,
            env={**os.environ, "QGIS_CUSTOM_CONFIG_PATH": str(workdir / "qgis")}))
        startup = timed(lambda: subprocess.run(
            [str(REPO / "scripts" / "qgis_process"), "help", "rsai:run_model"],
            check=True, capture_output=True,
            env={**os.environ, "QGIS_CUSTOM_CONFIG_PATH": str(workdir / "qgis")}))
        print(f"  whole qgis_process call            {whole:7.2f} s   ratio {whole / raw:.3f} "
              f"(goal <= 1.25); of it qgis_process start-up alone {startup:.2f} s")
    raster.unlink()


def two_inputs(workdir: Path, size: int = 8192, ratio: int = 40) -> None:
    import torch

    class Fusion(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.aerial = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.satellite = torch.nn.Conv2d(10, 8, 1)
            self.head = torch.nn.Conv2d(8, 5, 1)

        def forward(self, aerial, satellite):
            up = torch.nn.functional.interpolate(self.satellite(satellite),
                                                 size=aerial.shape[-2:], mode="nearest")
            return self.head(torch.relu(self.aerial(aerial) + up))

    tile = 640  # a multiple of the ratio
    model = export(Fusion().eval(), {"aerial": torch.zeros(1, 3, tile, tile),
                                     "satellite": torch.zeros(1, 10, tile // ratio, tile // ratio)},
                   workdir / "fusion.onnx")
    aerial = make_raster(workdir / "aerial.tif", size, 3, 0.25)
    satellite = make_raster(workdir / "satellite.tif", -(-size // ratio) + 2, 10, 0.25 * ratio)
    card = card_from_dict({"id": "fusion", "task": "segmentation", "format": "onnx",
                           "inputs": [{"name": "aerial", "bands": list("rgb"), "scale": 255},
                                      {"name": "satellite", "bands": [f"s{i}" for i in range(10)],
                                       "scale": 10000, "ratio": ratio}],
                           "tiling": {"tile_size": tile, "overlap": 80},
                           "outputs": {"classes": [{"value": i, "name": str(i)} for i in range(5)]}})
    predictor = onnx_predictor(model, "cpu", THREADS)
    sources = open_sources(card, {"aerial": str(aerial), "satellite": str(satellite)}, callbacks=QUIET)
    tiles = list(tile_grid(card, sources["aerial"].grid, RunOptions()))
    satellite_read = timed(lambda: [sources["satellite"].read(t.x // ratio, t.y // ratio,
                                                              tile // ratio, tile // ratio)
                                    for t in tiles])
    batches = [_read_batch(card, sources, [t], tile)[0] for t in tiles]
    raw = timed(lambda: [predictor(b) for b in batches])
    del batches
    engine = timed(lambda: run(card, predictor, {"aerial": str(aerial), "satellite": str(satellite)},
                               [Destination(str(workdir / "fusion_out.tif"))], callbacks=QUIET))
    mpix = size * size / 1e6
    print(f"two inputs  {size}^2 RGB + 10 bands at 1/{ratio}, {len(tiles)} tiles of {tile}")
    print(f"  raw onnxruntime on pre-read inputs {raw:7.2f} s ({mpix / raw:5.2f} Mpix/s); engine "
          f"{engine:7.2f} s   ratio {engine / raw:.3f} (goal <= 1.15); per-tile satellite reads "
          f"{satellite_read:.2f} s ({satellite_read / engine:.1%} of the run)")
    aerial.unlink()


def patch(workdir: Path, size: int = 4096) -> None:
    import torch
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(16, 16, 3), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(16, 4)).eval()
    model = export(net, {"input": torch.zeros(1, 2, 50, 50)}, workdir / "patch.onnx")
    raster = make_raster(workdir / "sar.tif", size, 2)
    predictor = onnx_predictor(model, "cpu", THREADS)
    image = gdal.Open(str(raster)).ReadAsArray().astype(np.float32)
    from numpy.lib.stride_tricks import sliding_window_view
    for stride in (50, 25):
        windows = sliding_window_view(image, (50, 50), axis=(1, 2))[:, ::stride, ::stride]
        count = windows.shape[1] * windows.shape[2]
        batch = np.ascontiguousarray(windows.transpose(1, 2, 0, 3, 4).reshape(count, 2, 50, 50))
        raw = timed(lambda: [predictor({"input": batch[i:i + 64]}) for i in range(0, count, 64)])
        card = card_from_dict({"id": "patch", "task": "segmentation", "format": "onnx",
                               "inputs": [{"bands": ["HH", "HV"]}],
                               "head": {"type": "patch", "window": 50, "stride": stride},
                               "outputs": {"classes": [{"value": i, "name": str(i)} for i in range(4)]}})
        engine = timed(lambda: run(card, predictor, {"input": str(raster)},
                                   [Destination(str(workdir / "patch_out.tif"))],
                                   callbacks=QUIET))
        print(f"patch  {size}^2 x 2 bands, 50 x 50 windows, stride {stride}: {count} windows; "
              f"raw {raw:6.2f} s ({count / raw:7.0f} windows/s), engine {engine:6.2f} s "
              f"({size * size / 1e6 / engine:5.2f} Mpix/s), ratio {engine / raw:.3f}")
    del image
    raster.unlink()


def peak_rss_of_run(raster: Path, model: Path, out: Path) -> float:
    """Run the engine in a fresh process and return its peak resident memory in MiB."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
            f"import bench_engine as b;"
            f"b.run(b.dense_card(), b.onnx_predictor({str(model)!r}, 'cpu', 2),"
            f" {{'input': {str(raster)!r}}}, [b.Destination({str(out)!r})], callbacks=b.QUIET);"
            f"print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1]) / 1024


def memory(workdir: Path, sizes) -> None:
    from rsai_toolbox.models.runtime.conv_onnx import write_conv_onnx
    # Memory does not depend on the model's cost: a per-pixel model keeps the run short.
    model = write_conv_onnx(workdir / "pointwise.onnx", np.ones((3, 3, 1, 1), np.float32),
                            np.zeros(3, np.float32))
    peaks = []
    for size in sizes:
        raster = make_raster(workdir / f"mem_{size}.tif", size)
        peaks.append(peak_rss_of_run(raster, model, workdir / f"mem_out_{size}.tif"))
        raster.unlink()
        print(f"memory {size}^2 x 3: peak RSS {peaks[-1]:.0f} MiB")
    if len(peaks) == 2:
        print(f"  ratio peak {sizes[1]} / {sizes[0]}: {peaks[1] / peaks[0]:.3f}   (goal <= 1.20)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--skip-qgis", action="store_true", help="no qgis_process run")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[8192, 16384])
    parser.add_argument("--only", choices=["dense", "two", "patch", "memory"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only in (None, "dense"):
            dense(workdir, args.size, not args.skip_qgis)
        if args.only in (None, "two"):
            two_inputs(workdir)
        if args.only in (None, "patch"):
            patch(workdir)
        if args.only in (None, "memory"):
            memory(workdir, args.memory_sizes)


if __name__ == "__main__":
    main()

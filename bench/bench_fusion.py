"""Aerial + satellite DeepLabV3+ on CPU: the network alone, two inputs versus one.

Printed as figures and ratios measured in this one run, never asserted:

1. Mpix/s of aerial imagery through the fusion network (aerial tile T x T plus a Sentinel-2
   tile T/r x T/r) and through the single-source DeepLabV3+ with the same encoder, in torch
   (eager, inference_mode) and onnxruntime (the ONNX export of each), same tiles, same threads;
   the two-input / one-input time ratio is the cost of the satellite branch;
2. a whole engine run of the two-input ONNX (aerial in EPSG:2180, Sentinel-2 in UTM 34N, so
   every tile's satellite footprint is warped) and the share of its per-tile satellite reads
   (the issue's goal: under 10% of the run).

The loops run in one worker thread, as the engine runs its model. Random weights (speed does not
depend on their values); small encoders by default. Sizes are arguments:

    .venv/bin/python bench/bench_fusion.py [--encoders resnet18,tu-mobilenetv3_small_100]
        [--tile 480] [--ratio 40] [--tiles 4] [--batch 1]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "plugins"))
sys.path.insert(0, str(ROOT / "tests"))
from bench_farmland import best_of  # noqa: E402  (same folder: fresh worker thread per run)
from rsai_toolbox.models.cards import card_from_dict  # noqa: E402
from rsai_toolbox.models.fusion.network import FusionDeepLabV3Plus, export_fusion_onnx  # noqa: E402
from rsai_toolbox.models.runtime.sources import open_sources  # noqa: E402


def network_times(encoder, args, folder):
    """{(inputs, backend): seconds for all tiles} for the fusion and single-source networks."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    side = args.tile // args.ratio
    aerial = [rng.random((args.batch, 3, args.tile, args.tile), dtype=np.float32)
              for _ in range(args.tiles)]
    satellite = [rng.random((args.batch, 4, side, side), dtype=np.float32)
                 for _ in range(args.tiles)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    times = {}
    for channels in (4, 0):
        torch.manual_seed(0)
        model = FusionDeepLabV3Plus(5, 3, channels, args.ratio, encoder).eval()
        path = folder / f"{encoder}_{channels}.onnx"
        export_fusion_onnx(model, path, args.tile, 3, channels)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        label = "aerial + satellite" if channels else "aerial only"

        def run_torch():
            with torch.inference_mode():
                for a, s in zip(aerial, satellite):
                    model(torch.from_numpy(a), torch.from_numpy(s) if channels else None)

        def run_onnx():
            for a, s in zip(aerial, satellite):
                session.run(None, {"aerial": a, "satellite": s} if channels else {"aerial": a})

        times[(label, "torch")] = best_of(args.repeats, run_torch)
        times[(label, "onnxruntime")] = best_of(args.repeats, run_onnx)
    return times


def engine_run(args, folder, onnx_path) -> tuple[float, float, int]:
    """(seconds of a whole engine run, seconds of its satellite reads, tiles): the two-input
    ONNX on a 4 x 4-tile aerial raster in EPSG:2180 with Sentinel-2 in UTM 34N (every tile's
    footprint warped), CPU, no overlap."""
    import helpers_fusion as hf
    from rsai_toolbox.models.callbacks import Callbacks
    from rsai_toolbox.models.runtime.backends import onnx_predictor
    from rsai_toolbox.models.runtime.engine import Destination, run

    size = args.tile * 4
    aerial = hf.Grid(2180, hf.X0, hf.Y0, 10.0 / args.ratio, size, size)
    pair = hf.write_pair(folder, "bench", aerial, hf._satellite_over(aerial, epsg=32634))
    card = card_from_dict({
        "id": "bench", "task": "segmentation", "format": "onnx",
        "inputs": [{"name": "aerial", "bands": list(hf.AERIAL_BANDS), "scale": 255},
                   {"name": "satellite", "bands": list(hf.SATELLITE_BANDS), "ratio": args.ratio,
                    "scale": 1000}],
        "tiling": {"tile_size": args.tile, "overlap": 0},
        "outputs": {"classes": [{"value": v, "name": f"class {v}"} for v in range(5)]}})
    paths = {"aerial": str(pair.aerial_path), "satellite": str(pair.satellite_path)}
    quiet = Callbacks(log=lambda m: None, warn=lambda m: None)
    predictor = onnx_predictor(onnx_path, "cpu")
    start = time.perf_counter()
    run(card, predictor, paths, [Destination(str(folder / "classes.tif"))], callbacks=quiet)
    total = time.perf_counter() - start

    satellite = open_sources(card, paths, callbacks=quiet)["satellite"]
    side = args.tile // args.ratio
    cells = [(c, r) for r in range(0, size // args.ratio, side)
             for c in range(0, size // args.ratio, side)]

    def read_all():
        for c, r in cells:
            satellite.read(c, r, side, side)
    return total, best_of(args.repeats, read_all), len(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="resnet18,tu-mobilenetv3_small_100")
    parser.add_argument("--tile", type=int, default=480, help="aerial tile side in pixels")
    parser.add_argument("--ratio", type=int, default=40, help="satellite pixel / aerial pixel")
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    mpix = args.tiles * args.batch * args.tile ** 2 / 1e6
    print(f"CPU, {torch.get_num_threads()} threads; {args.tiles} x {args.batch} aerial tiles of "
          f"{args.tile} px (= {mpix:.2f} Mpix) + Sentinel-2 tiles of {args.tile // args.ratio} px "
          f"(ratio {args.ratio}, 4 bands); 5 classes")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        encoders = args.encoders.split(",")
        for encoder in encoders:
            times = network_times(encoder, args, folder)
            print(f"{encoder}:")
            for (label, backend), seconds in times.items():
                print(f"  {label:19s} {backend:12s} {seconds:7.2f} s  {mpix / seconds:6.3f} Mpix/s")
            for backend in ("torch", "onnxruntime"):
                ratio = times[("aerial + satellite", backend)] / times[("aerial only", backend)]
                print(f"  two-input / one-input time ratio ({backend}): {ratio:.3f}")
        total, reads, tiles = engine_run(args, folder, folder / f"{encoders[0]}_4.onnx")
    print(f"engine run, {encoders[0]} two-input ONNX, {tiles} tiles, satellite in another CRS: "
          f"{total:.2f} s ({tiles * args.tile ** 2 / 1e6 / total:.3f} Mpix/s); its per-tile "
          f"satellite reads {reads * 1000 / tiles:.1f} ms a tile = {reads / total:.1%} of the run")


if __name__ == "__main__":
    main()

"""NERSC sea-ice type CNN on CPU: raw speed, and what the engine and the tool add to it.

1. raw: the released Keras weights rebuilt in torch and exported to ONNX, both on the same
   50 x 50 HH/HV windows cut once from a synthetic dB scene in memory, at window steps 50 and
   10 (Mpix/s = scene pixels covered per second; a step of 10 scores 25 times the windows).
2. engine overhead: on the same scene written as a linear-sigma0 GeoTIFF, the engine's patch
   head end to end (window reads, dB transform, normalisation, the model, the class raster on
   the input grid written compressed) and the whole sea_ice_types core (unit detection on a
   sample, the prepared VRT, then the engine), against the same network on the same windows
   already in memory (cut, in dB, normalised), same predictor, same 64 windows per call.
   Ratios are printed, never asserted.

    .venv/bin/python bench/bench_seaice.py [--size 1000] [--batch 256] [--repeats 3]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from osgeo import gdal, osr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "plugins"))
from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.cards import load_card  # noqa: E402
from rsai_toolbox.models.registry import BUILTIN_CARDS  # noqa: E402
from rsai_toolbox.models.runtime.backends import (load_predictor, onnx_predictor,  # noqa: E402
                                                  torch_predictor)
from rsai_toolbox.models.runtime.engine import (Destination, RunOptions, normaliser,  # noqa: E402
                                                run)
from rsai_toolbox.models.seaice import icetype_cnn  # noqa: E402
from rsai_toolbox.models.seaice.ice_types import IceTypeOutputs, map_ice_types  # noqa: E402
from bench_farmland import best_of  # noqa: E402  (each run in a fresh worker thread)

WEIGHTS = REPO.parent / "shared" / "data" / "seaice" / "nersc_s1_icetype_cnn_weights.hdf5"
QUIET = Callbacks(log=lambda m: None, warn=lambda m: None)
PER_CALL = 64  # windows per model call: the engine's patch head at BATCH_SIZE 1


def scene_db(size: int) -> np.ndarray:
    """HH/HV in dB: smooth ice regions plus speckle (values do not change the speed)."""
    rng = np.random.default_rng(0)
    base = np.stack([np.full((size, size), -15.0), np.full((size, size), -25.0)])
    return (base + rng.normal(0, 2, base.shape)).astype(np.float32)


def windows(scene: np.ndarray, step: int, window: int = icetype_cnn.WINDOW) -> np.ndarray:
    """(n, 2, window, window): every window at ``step``, copied into memory once."""
    view = sliding_window_view(scene, (window, window), axis=(1, 2))[:, ::step, ::step]
    return np.ascontiguousarray(np.moveaxis(view, 0, 2).reshape(-1, scene.shape[0], window,
                                                                window))


def run_all(predictor, cut: np.ndarray, batch: int) -> np.ndarray:
    out = []
    for start in range(0, len(cut), batch):
        result = predictor({"sar": np.ascontiguousarray(cut[start:start + batch])})
        out.append(next(iter(result.values())))
    return np.concatenate(out)


def write_linear(path: Path, db: np.ndarray) -> Path:
    """The scene as linear sigma0 on a 40 m polar stereographic grid, bands named HH, HV."""
    size = db.shape[1]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 2, gdal.GDT_Float32,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000, 40.0, 0, 8000000, 0, -40.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3413)
    ds.SetProjection(srs.ExportToWkt())
    for index, name in enumerate(("HH", "HV")):
        band = ds.GetRasterBand(index + 1)
        band.WriteArray(np.power(10, db[index] / 10).astype(np.float32))
        band.SetDescription(name)
    ds = None
    return path


def raw_speed(network, folder: Path, scene: np.ndarray, args) -> None:
    onnx_path = icetype_cnn.export_onnx(network, folder / "nersc.onnx")
    predictors = {"torch": torch_predictor(network, "cpu", args.threads),
                  "onnxruntime": onnx_predictor(onnx_path, "cpu", args.threads)}
    pixels = scene.shape[1] * scene.shape[2]
    for step in (50, 10):
        cut = windows(scene, step)
        results = {name: run_all(p, cut, args.batch) for name, p in predictors.items()}
        difference = np.abs(results["torch"] - results["onnxruntime"]).max()
        seconds = {name: best_of(args.repeats, lambda p=p: run_all(p, cut, args.batch))
                   for name, p in predictors.items()}
        rates = {name: pixels / s / 1e6 for name, s in seconds.items()}
        print(f"raw step {step:2d}: {len(cut):6d} windows | torch {rates['torch']:7.3f} Mpix/s "
              f"({len(cut) / seconds['torch']:8.0f} windows/s) | onnxruntime "
              f"{rates['onnxruntime']:7.3f} Mpix/s ({len(cut) / seconds['onnxruntime']:8.0f}"
              f" windows/s) | onnxruntime/torch speed {seconds['torch'] / seconds['onnxruntime']:.2f}"
              f" | max |difference| {difference:.1e}")


def engine_overhead(folder: Path, scene: np.ndarray, args) -> None:
    card = load_card(BUILTIN_CARDS / "nersc-s1-icetype.json")
    predictor = load_predictor(card, WEIGHTS, "cpu", args.threads)
    tif = write_linear(folder / "s1.tif", scene)
    # exactly what the engine computes for each window: 10 log10 of linear power, normalised
    linear = gdal.Open(str(tif)).ReadAsArray().astype(np.float32)
    db = np.log10(linear)
    db *= 10
    pixels = scene.shape[1] * scene.shape[2]
    for step in (50, 10):
        cut = normaliser(card.primary)(windows(db, step))
        raw = best_of(args.repeats, lambda: run_all(predictor, cut, PER_CALL))
        out = folder / f"engine_{step}.tif"
        # all three in a fresh worker thread each (torch's threads behave alike there)
        engine = best_of(args.repeats, lambda: run(
            card, predictor, {"sar": str(tif)}, [Destination(str(out))],
            RunOptions(stride=step), QUIET))
        tool_out = folder / f"tool_{step}.tif"
        tool = best_of(args.repeats, lambda: map_ice_types(
            card, predictor, str(tif), IceTypeOutputs(str(tool_out)),
            options=RunOptions(stride=step), callbacks=QUIET))
        same = np.array_equal(gdal.Open(str(out)).ReadAsArray(),
                              gdal.Open(str(tool_out)).ReadAsArray())
        print(f"step {step:2d}: {len(cut):6d} windows | raw network {raw:6.2f} s "
              f"({pixels / raw / 1e6:6.3f} Mpix/s) | engine {engine:6.2f} s, ratio "
              f"{engine / raw:.3f} | sea_ice_types core {tool:6.2f} s, ratio {tool / raw:.3f}"
              f" | engine and tool maps equal: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000, help="scene side in pixels")
    parser.add_argument("--batch", type=int, default=256, help="windows per call (raw speed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    parser.add_argument("--skip-raw", action="store_true", help="only the engine overhead")
    args = parser.parse_args()
    if not WEIGHTS.is_file():
        sys.exit(f"the released weights are needed at {WEIGHTS}")

    network = icetype_cnn.load_nersc_network(WEIGHTS)
    scene = scene_db(args.size)
    print(f"NERSC s1_icetype_cnn, {args.size} x {args.size} px scene, best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_raw:
            print(f"-- raw network, batch {args.batch}")
            raw_speed(network, Path(tmp), scene, args)
        print(f"-- engine and tool against the raw network (torch, {PER_CALL} windows per call)")
        engine_overhead(Path(tmp), scene, args)


if __name__ == "__main__":
    main()

"""Soil models: training time on the largest LimeSoDa dataset; prediction speed of each exported
ONNX model (onnxruntime) against the scikit-learn / XGBoost / torch model in memory on the same
pixel rows; a whole map through the engine's pixel-table head (read, features, model, write)
against the in-memory model on that map's feature rows; and the feature computation alone.

Ratios are measured in one run and printed, never asserted. Rows are the dataset's training
features resampled with small noise (so trees take realistic paths).

    .venv/bin/python bench/bench_soil.py [--rows 200000] [--map 256] [--threads 0]

Measured on the 2-core development machine under a load of 9-10 (other jobs), one thread:
training 73-166 s RF / 23-47 s XGBoost / 12-37 s network (10-fold CV + final fit, 2 targets,
the spread is the machine's load); onnxruntime vs in memory on 200k rows: RF 0.84-0.91x,
XGBoost 0.32-0.35x (onnxruntime's tree ensemble is slower than XGBoost's own predictor on
2 x 500 depth-4 trees), network 1.3-1.8x; a 256 x 256 map through the pixel-table head (read,
features, model, write) vs the in-memory model on the same rows: RF 0.80x, XGBoost 0.58x,
network 0.44x (the network's rows are so cheap that reading and features dominate); features
alone 0.41 Mpix/s (36 features).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "plugins"))
sys.path.insert(0, str(ROOT / "tests"))
if not (ROOT / "build" / "plugins" / "rsai_toolbox").exists():
    (ROOT / "build" / "plugins").mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "plugins" / "rsai_toolbox").symlink_to(ROOT, target_is_directory=True)

from helpers_soil import limesoda_table  # noqa: E402
from rsai_toolbox.models.soil.features import feature_set  # noqa: E402
from rsai_toolbox.models.soil.onnx_model import OnnxPredictor, exported_model  # noqa: E402
from rsai_toolbox.models.soil.regressors import (ALGORITHMS, LearnerOptions,  # noqa: E402
                                                 make_learner)
from rsai_toolbox.models.soil.train import CrossValidation, train  # noqa: E402

LARGEST = "BB_250"


def best_of(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="pixel rows to predict")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for onnxruntime and the in-memory models (0: all)")
    parser.add_argument("--map", type=int, default=256, help="side of the map in pixels")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    n_jobs = args.threads or -1

    table = limesoda_table(args.data, LARGEST, indices="all")
    x, y = table.features, table.targets
    print(f"LimeSoDa {LARGEST}: {len(x)} samples, {x.shape[1]} features, targets "
          f"{', '.join(table.target_names)}; 10 given folds")
    rng = np.random.default_rng(0)
    rows = x[rng.integers(0, len(x), args.rows)]
    rows = (rows * rng.normal(1, 0.01, rows.shape)).astype(np.float32)

    print("\ntraining (10-fold CV + final fit; one thread):")
    for algorithm in ALGORITHMS:
        elapsed = best_of(lambda: train(table, algorithm, CrossValidation("given"),
                                        options=LearnerOptions(n_jobs=1)), repeats=1)
        fit = best_of(lambda: make_learner(algorithm, LearnerOptions(n_jobs=1)).fit(x, y),
                      repeats=1)
        print(f"  {algorithm:15s} train() {elapsed:6.1f} s   final fit alone {fit:5.2f} s")

    print(f"\nprediction of {args.rows} rows (best of 3), threads "
          f"{args.threads or 'all'}:")
    for algorithm in ALGORITHMS:
        learner = make_learner(algorithm, LearnerOptions(n_jobs=n_jobs)).fit(x, y)
        model = exported_model(learner, [0.5] * y.shape[1], x)
        predictor = OnnxPredictor(model, threads=args.threads)
        predictor.predict(rows[:1000])
        onnx_s = best_of(lambda: predictor.predict(rows))
        native_s = best_of(lambda: learner.predict(rows))
        print(f"  {algorithm:15s} onnxruntime {args.rows / onnx_s / 1e3:8.1f} krows/s   "
              f"in memory {args.rows / native_s / 1e3:8.1f} krows/s   "
              f"onnx/native speed {native_s / onnx_s:5.2f}x")

    print(f"\nmap of {args.map} x {args.map} px through the pixel-table head (band values, 3x3 "
          f"means, indices), threads {args.threads or 'all'}:")
    with tempfile.TemporaryDirectory() as folder:
        for algorithm in ALGORITHMS:
            head_s, native_s = map_speed(Path(folder), table, algorithm, args.map, n_jobs,
                                         args.threads)
            pixels = args.map * args.map
            print(f"  {algorithm:15s} pixel-table head {pixels / head_s / 1e3:8.1f} kpx/s   "
                  f"in memory on the same rows {pixels / native_s / 1e3:8.1f} kpx/s   "
                  f"head/native speed {native_s / head_s:5.2f}x")

    side = 1024
    features = feature_set([("s2", table.feature_set.spectral.bands)], windows=(3, 5))
    block = rng.uniform(500, 5000, (len(features.spectral.bands), side + 4, side + 4))
    elapsed = best_of(lambda: features({"s2": block}))
    print(f"\nfeatures (band values, 3x3 and 5x5 means, {len(features.indices)} indices: "
          f"{len(features.names)}) on a {side}x{side} block: "
          f"{side * side / elapsed / 1e6:.2f} Mpix/s")


def map_speed(folder: Path, table, algorithm: str, side: int, n_jobs: int, threads: int):
    """Seconds for predict_map over a side x side image, and for the in-memory learner on the
    same feature rows (computed once, outside the timing)."""
    from osgeo import gdal, osr

    from rsai_toolbox.models.callbacks import Callbacks
    from rsai_toolbox.models.files import write_files
    from rsai_toolbox.models.registry import onnx_card
    from rsai_toolbox.models.runtime.backends import load_predictor
    from rsai_toolbox.models.soil.onnx_model import model_files
    from rsai_toolbox.models.soil.predict import predict_map
    from rsai_toolbox.models.soil.rasters import SPECTRAL
    from rsai_toolbox.models.soil.tables import SampleTable

    bands = table.feature_set.spectral.bands
    features = feature_set([(SPECTRAL, bands)], windows=(3,))
    rng = np.random.default_rng(1)
    image = rng.uniform(500, 5000, (len(bands), side, side)).astype(np.float32)
    path = folder / "image.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), side, side, len(bands),
                                                   gdal.GDT_Float32)
    dataset.SetGeoTransform((500000, 10, 0, 5800000, 0, -10))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    dataset.SetProjection(srs.ExportToWkt())
    for b, name in enumerate(bands):
        dataset.GetRasterBand(b + 1).WriteArray(image[b])
        dataset.GetRasterBand(b + 1).SetDescription(name)
    dataset = None
    samples = features({SPECTRAL: image[:, :40, :40]})  # (F, 38, 38): training rows
    x = samples.reshape(len(features.names), -1).T
    y = np.stack([x[:, 0] / 1000 + rng.normal(0, 0.1, len(x)),
                  x[:, 3] / 2000 + rng.normal(0, 0.1, len(x))], 1)
    small = SampleTable(x, y, np.stack([np.arange(len(x)) * 10.0] * 2, 1),
                        np.arange(len(x)), features, ("a", "b"), ("", ""),
                        folds=np.arange(len(x)) % 2,
                        inputs=[{"name": SPECTRAL, "bands": list(bands)}])
    result = train(small, algorithm, CrossValidation("given"),
                   options=LearnerOptions(n_jobs=n_jobs))
    model = exported_model(result.learner, [0.1, 0.1], x)
    write_files(model_files(model, result.card("bench"), folder / f"{algorithm}.onnx"))
    card = onnx_card(folder / f"{algorithm}.onnx")
    predictor = load_predictor(card, folder / f"{algorithm}.onnx", "cpu", threads)
    quiet = Callbacks(log=lambda text: None)
    head_s = best_of(lambda: predict_map(card, predictor, path, folder / "map.tif",
                                         callbacks=quiet), repeats=2)
    rows = features({SPECTRAL: np.pad(image, ((0, 0), (1, 1), (1, 1)),
                                      constant_values=np.nan)})
    rows = rows.reshape(len(features.names), -1).T.astype(np.float32)
    native_s = best_of(lambda: result.learner.predict(rows), repeats=2)
    return head_s, native_s


if __name__ == "__main__":
    main()

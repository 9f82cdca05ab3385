"""Soil models: training time on the largest LimeSoDa dataset, and prediction speed of each
exported ONNX model (onnxruntime) against the scikit-learn / XGBoost / torch model in memory on
the same pixel rows, plus the feature computation a pixel-table head runs per block.

Ratios are measured in one run and printed, never asserted. Rows are the dataset's training
features resampled with small noise (so trees take realistic paths).

    .venv/bin/python bench/bench_soil.py [--rows 200000] [--threads 0] [--data ../shared/data]

Measured on the 2-core development machine under a load of about 9 (other jobs), one thread:
training 73-80 s RF / 23 s XGBoost / 12 s network (10-fold CV + final fit, 2 targets);
prediction onnxruntime vs in memory: RF 0.91x, XGBoost 0.35x (onnxruntime's tree ensemble is
slower than XGBoost's own predictor on 2 x 500 depth-4 trees), network 1.8x.
"""

from __future__ import annotations

import argparse
import sys
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

    side = 1024
    features = feature_set([("s2", table.feature_set.spectral.bands)], windows=(3, 5))
    block = rng.uniform(500, 5000, (len(features.spectral.bands), side + 4, side + 4))
    elapsed = best_of(lambda: features({"s2": block}))
    print(f"\nfeatures (band values, 3x3 and 5x5 means, {len(features.indices)} indices: "
          f"{len(features.names)}) on a {side}x{side} block: "
          f"{side * side / elapsed / 1e6:.2f} Mpix/s")


if __name__ == "__main__":
    main()

"""Throughput of Bayesian QDA classification vs scikit-learn QDA / RandomForest predict_proba.

Synthetic data: 13 bands, 6 Gaussian classes. All methods classify the same pixels in one run;
ratios are printed, never asserted. The Bayesian model uses its raster path (float32, fixed
per-band sigma or none); the exact per-pixel-sigma path is timed on a sample and extrapolated.

    .venv/bin/python bench/bench_landcover_bayes.py [--pixels 10000000] [--chunk 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "plugins"))
if not (ROOT / "build" / "plugins" / "rsai_toolbox").exists():
    (ROOT / "build" / "plugins").mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "plugins" / "rsai_toolbox").symlink_to(ROOT, target_is_directory=True)

from rsai_toolbox.models.landcover_bayes import fit  # noqa: E402


def timed(fn, x, chunk):
    t = time.perf_counter()
    for s in range(0, len(x), chunk):
        fn(x[s:s + chunk])
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000, help="pixels per predict call")
    ap.add_argument("--rf-pixels", type=int, default=None,
                    help="pixels for RandomForest (default: all; it is slow)")
    args = ap.parse_args()
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.ensemble import RandomForestClassifier

    d, k = 13, 6
    rng = np.random.default_rng(0)
    means = rng.uniform(0.02, 0.4, size=(k, d))
    mix = [rng.normal(scale=0.02, size=(d, d)) for _ in range(k)]
    n_train = 3000
    x_train = np.concatenate([rng.normal(size=(n_train, d)) @ mix[i] + means[i] for i in range(k)])
    y_train = np.repeat(np.arange(1, k + 1), n_train)
    labels = rng.integers(0, k, size=args.pixels)
    x = (np.einsum("nd,nde->ne", rng.normal(size=(args.pixels, d)).astype(np.float32),
                   np.asarray(mix, np.float32)[labels]) if args.pixels <= 2_000_000 else None)
    if x is None:  # build in pieces to bound memory
        x = np.empty((args.pixels, d), np.float32)
        for s in range(0, args.pixels, 1_000_000):
            e = min(args.pixels, s + 1_000_000)
            z = rng.normal(size=(e - s, d)).astype(np.float32)
            x[s:e] = np.einsum("nd,nde->ne", z, np.asarray(mix, np.float32)[labels[s:e]])
    x += np.asarray(means, np.float32)[labels]
    mpix = args.pixels / 1e6

    model = fit(x_train, y_train, band_names=tuple(f"B{i}" for i in range(d)))
    qda = QuadraticDiscriminantAnalysis(tol=0.0).fit(x_train, y_train)  # reflectance-scale data
    rf = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0).fit(x_train, y_train)

    res = {}
    fast = model.predictor(None, np.float32)
    res["bayes (no sigma)"] = timed(fast.predict_proba, x, args.chunk)
    sig = model.predictor(np.full(d, 0.01), np.float32)
    res["bayes (per-band sigma)"] = timed(sig.predict_proba, x, args.chunk)
    res["sklearn QDA"] = timed(qda.predict_proba, x, args.chunk)
    n_rf = args.rf_pixels or args.pixels
    res["sklearn RandomForest"] = timed(rf.predict_proba, x[:n_rf], args.chunk) * args.pixels / n_rf
    n_pp = min(args.pixels, 200_000)
    sub = x[:n_pp].astype(np.float64)
    t = time.perf_counter()
    model.predict_proba(sub, 0.05 * np.abs(sub))
    res["bayes (per-pixel sigma, exact)"] = (time.perf_counter() - t) * args.pixels / n_pp

    agree = np.mean(np.argmax(fast.predict_proba(x[:1_000_000]), 1)
                    == np.argmax(qda.predict_proba(x[:1_000_000]), 1))
    print(f"{args.pixels:,} pixels, {d} bands, {k} classes (float32 input)")
    for name, sec in res.items():
        extra = ""
        if name.startswith("sklearn RandomForest") and n_rf < args.pixels:
            extra = f" (timed on {n_rf:,}, scaled)"
        if "per-pixel" in name and n_pp < args.pixels:
            extra = f" (timed on {n_pp:,}, scaled)"
        print(f"  {name:34s} {sec:8.2f} s  {mpix / sec:8.2f} Mpix/s{extra}")
    base = res["sklearn QDA"]
    print(f"speed-up vs sklearn QDA:  bayes {base / res['bayes (no sigma)']:.2f}x, "
          f"bayes+sigma {base / res['bayes (per-band sigma)']:.2f}x, "
          f"per-pixel-sigma {base / res['bayes (per-pixel sigma, exact)']:.2f}x")
    print(f"speed-up vs RandomForest: bayes "
          f"{res['sklearn RandomForest'] / res['bayes (no sigma)']:.2f}x")
    print(f"argmax agreement with sklearn QDA (prior strength "
          f"{model.prior_strength:g}, first 1M px): {agree:.4f}")


if __name__ == "__main__":
    main()

"""NERSC sea-ice type CNN on CPU: Mpix/s at window step 50 and 10, torch versus onnxruntime.

The released Keras weights (../shared/data/seaice) are rebuilt in torch and exported to ONNX;
both run on the same 50 x 50 HH/HV windows cut from one synthetic dB scene held in memory
(cut once before timing), same batch size, same threads, each timed in a fresh worker
thread (best of ``--repeats``). Mpix/s counts the scene's pixels covered per second: a step of
10 scores 25 times as many windows as the authors' step of 50. Printed, never asserted. The
engine's overhead against these raw numbers is added once the runtime's patch head exists.

    .venv/bin/python bench/bench_seaice.py [--size 1000] [--batch 256] [--repeats 3]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "plugins"))
from rsai_toolbox.models.runtime.backends import onnx_predictor, torch_predictor  # noqa: E402
from rsai_toolbox.models.seaice import icetype_cnn  # noqa: E402
from bench_farmland import best_of  # noqa: E402  (each run in a fresh worker thread)

WEIGHTS = REPO.parent / "shared" / "data" / "seaice" / "nersc_s1_icetype_cnn_weights.hdf5"


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
        out.append(predictor({"sar": np.ascontiguousarray(cut[start:start + batch])})["output"])
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000, help="scene side in pixels")
    parser.add_argument("--batch", type=int, default=256, help="windows per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    args = parser.parse_args()
    if not WEIGHTS.is_file():
        sys.exit(f"the released weights are needed at {WEIGHTS}")

    network = icetype_cnn.load_nersc_network(WEIGHTS)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = icetype_cnn.export_onnx(network, Path(tmp) / "nersc.onnx")
        predictors = {"torch": torch_predictor(network, "cpu", args.threads),
                      "onnxruntime": onnx_predictor(onnx_path, "cpu", args.threads)}
        scene = scene_db(args.size)
        pixels = args.size * args.size
        print(f"NERSC s1_icetype_cnn, {args.size} x {args.size} px scene, batch {args.batch}, "
              f"best of {args.repeats}")
        for step in (50, 10):
            cut = windows(scene, step)
            results = {name: run_all(p, cut, args.batch) for name, p in predictors.items()}
            difference = np.abs(results["torch"] - results["onnxruntime"]).max()
            seconds = {name: best_of(args.repeats, lambda p=p: run_all(p, cut, args.batch))
                       for name, p in predictors.items()}
            rates = {name: pixels / s / 1e6 for name, s in seconds.items()}
            print(f"step {step:2d}: {len(cut):6d} windows | torch {rates['torch']:7.3f} Mpix/s "
                  f"({len(cut) / seconds['torch']:8.0f} windows/s) | onnxruntime "
                  f"{rates['onnxruntime']:7.3f} Mpix/s ({len(cut) / seconds['onnxruntime']:8.0f}"
                  f" windows/s) | onnxruntime/torch speed {seconds['torch'] / seconds['onnxruntime']:.2f}"
                  f" | max |difference| {difference:.1e}")


if __name__ == "__main__":
    main()

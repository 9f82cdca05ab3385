"""Write tests/data/adwm_wv3_expected.json: a small record of what the ADWM networks output on the
WorldView-3 example of ../shared/data/pansharpening, made once from the plugin's float64 path.

For each network (the released weights, loaded strictly), the whole WV3 example (MS 32 x 32, PAN
128 x 128, DN / 2047) is run in float64 on the CPU, untiled; recorded: each band's mean after
clamping to 0..2047 DN, the share of values clamped, and the fused DN at 16 pixels (a 4 x 4
grid) in every band. tests/unit/test_pansharpening_adwm.py checks the live output against it
and the record against the figures of issue 18 (measured against the authors' code).

Only summary figures and 16 pixels are kept: the image itself is research-only licensed and
stays out of the repository.

Usage: .venv/bin/python scripts/make_adwm_expected.py [--data ../shared/data]
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.io

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "plugins"))
if not (REPO / "build" / "plugins" / "rsai_toolbox").exists():
    (REPO / "build" / "plugins").mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "plugins" / "rsai_toolbox").symlink_to(REPO, target_is_directory=True)

from rsai_toolbox.models.pansharpening import adwm  # noqa: E402

SAMPLE = (10, 45, 80, 115)  # PAN rows and columns of the recorded pixels
OUTPUT = REPO / "tests" / "data" / "adwm_wv3_expected.json"


def main() -> None:
    import torch
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    folder = args.data / "pansharpening"
    mat = scipy.io.loadmat(folder / "zpnn_WV3_example.mat")
    ms = mat["I_MS_LR"].astype(np.float64).transpose(2, 0, 1)
    pan = mat["I_PAN"].astype(np.float64)
    record = {"about": __doc__.split("\n\n")[1].replace("\n", " "),
              "sample_rows": SAMPLE, "sample_cols": SAMPLE,
              "ms_band_mean": ms.mean(axis=(1, 2)).round(3).tolist(), "networks": {}}
    rows, cols = np.meshgrid(SAMPLE, SAMPLE, indexing="ij")
    for name in adwm.ADWM_NAMES:
        model = adwm.load_adwm(name, folder / "adwm_weights" / adwm.RELEASED_WEIGHTS[name])
        model = model.to(torch.float64)
        fused = adwm.pansharpen_adwm(model, ms, pan)
        with torch.inference_mode():
            raw = model(torch.from_numpy(ms / 2047)[None], torch.from_numpy(pan / 2047)[None, None])[0].numpy()
        record["networks"][name] = {
            "band_mean": fused.mean(axis=(1, 2)).round(4).tolist(),
            "clamped_fraction": ((raw < 0) | (raw > 1)).mean(axis=(1, 2)).round(5).tolist(),
            "samples": fused[:, rows, cols].round(5).tolist(),
        }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()

"""PAN/MS GeoTIFFs for the pansharpening demo: the shared WorldView-2 pair when it is there
(argument: its data folder), else a synthetic 8-band pair (smooth fields, a PAN that mixes them,
11-bit DN, EPSG:32633, PAN 0.5 m, MS 2 m). Nothing is downloaded."""

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "build" / "plugins")]
from helpers import write_geotiff  # noqa: E402
from helpers_pansharpening import WV_BANDS, geotransform, write_pair  # noqa: E402


def synthetic(folder: Path, size: int = 1024) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    lr = size // 4
    y, x = np.mgrid[0:size, 0:size] / size
    fields = (np.floor(8 * x + 2 * np.sin(6 * y)) + np.floor(6 * y)) % 5
    spectra = rng.uniform(150, 900, (5, 8))
    hr = spectra[fields.astype(int)].transpose(2, 0, 1) + rng.normal(0, 15, (8, size, size))
    ms = hr.reshape(8, lr, 4, lr, 4).mean(axis=(2, 4))
    pan = hr[1:7].mean(axis=0) + rng.normal(0, 10, (size, size))
    write_geotiff(folder / "synthetic_pan.tif", np.clip(pan, 1, 2047)[None].astype(np.uint16),
                  geotransform(0.5), descriptions=("PAN",))
    write_geotiff(folder / "synthetic_ms.tif", np.clip(ms, 1, 2047).astype(np.uint16),
                  geotransform(2.0), descriptions=WV_BANDS)
    return folder / "synthetic_pan.tif", folder / "synthetic_ms.tif"


if __name__ == "__main__":
    out, data = Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None
    if data is not None and (data / "pansharpening" / "py_pansharpening_imgWV2.mat").is_file():
        pan, ms = write_pair(data, "WV2", out)
    else:
        pan, ms = synthetic(out)
    print(pan, ms)

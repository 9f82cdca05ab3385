"""Pansharpening throughput (prints only, never asserts).

- GSA and MTF-GLP-HPM: fit on the whole synthetic image, then apply; Mpix/s of PAN pixels. The
  MS upsampling at the geometric phase (12-point Lagrange, what the tool runs) against the
  toolbox's interp23tap on the same MS.
- Weighted Brovey on a synthetic PAN of --size pixels (default 4096; 16384 works) against GDAL's
  VRT pansharpening (what gdal_pansharpen.py builds) on the same GeoTIFFs, same thread count:
  both read the files, fuse, and write the same compressed tiled UInt16 GeoTIFF (the tool's
  GTIFF_OPTIONS: 256 px tiles, DEFLATE, PREDICTOR=2; NUM_THREADS is --threads for GDAL and
  ALL_CPUS for ours, equal with the default --threads). Ours is the tool's path
  (rasters.pansharpen_classical through the engine: GDAL cubic upsampling in each tile's read,
  float32 Brovey in the model thread while the next tile is read, a flush per tile row so GDAL
  compresses while the next row is fused). Both deflate the same data, so at these sizes the
  time is mostly compression. --repeat alternates the two and keeps each best.
- ADWM-FusionNet on CPU: torch vs the ONNX export through onnxruntime.
- ADWM memory (--adwm-memory 4096,8192): peak resident memory of the tool's ADWM-FusionNet run
  (rasters.pansharpen_deep, streamed through the engine) on synthetic 8-band pairs of each PAN
  size, each in a fresh process; the ratio of the largest to the smallest. GDAL's block cache
  (GDAL_CACHEMAX, 5% of RAM by default: 1.2 GB here) keeps blocks already written up to its
  limit, so the peak grows with the raster until the cache is full and stays flat after; run
  with GDAL_CACHEMAX=64 to see the engine's own memory.

Usage: .venv/bin/python bench/bench_pansharpening.py [--size 4096] [--threads 2] [--adwm-size 256]
       [--repeat 1] [--brovey-only] [--adwm-memory 4096,8192]
       (16384 needs about 6 GB RAM and 3 GB in $TMPDIR)
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "plugins"))
if not (REPO / "build" / "plugins" / "rsai_toolbox").exists():
    (REPO / "build" / "plugins").mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "plugins" / "rsai_toolbox").symlink_to(REPO, target_is_directory=True)

from rsai_toolbox.models.pansharpening import classical as C  # noqa: E402
from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.pansharpening import filters as F  # noqa: E402

QUIET = Callbacks(log=lambda _: None, warn=lambda _: None)


def synthetic_pair(size: int, bands: int = 8, ratio: int = 4, seed: int = 0):
    """Smooth random MS (uint16-like DN) and a PAN that is a noisy band mix of its upsampling."""
    rng = np.random.default_rng(seed)
    lr = size // ratio
    coarse = rng.uniform(200, 1200, size=(bands, lr // 8 + 2, lr // 8 + 2))
    ms = np.stack([np.kron(c, np.ones((8, 8)))[:lr, :lr] for c in coarse])
    ms += rng.normal(0, 30, ms.shape)
    pan = np.kron(ms.mean(axis=0), np.ones((ratio, ratio))) + rng.normal(0, 40, (size, size))
    return np.clip(ms, 1, 2047).astype(np.uint16), np.clip(pan, 1, 2047).astype(np.uint16)


def timed(fn, repeat: int = 1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_classical(size: int) -> None:
    ms, pan = synthetic_pair(size)
    mpix = pan.size / 1e6
    t_geo, _ = timed(lambda: F.upsample(ms, 4, "geometric"), repeat=2)
    t_tbx, _ = timed(lambda: F.upsample(ms, 4, "toolbox"), repeat=2)
    print(f"upsample {ms.shape[0]} bands to {size}x{size}: geometric {t_geo:.2f} s, toolbox "
          f"interp23tap {t_tbx:.2f} s; time ratio geometric/toolbox = {t_geo / t_tbx:.2f}")
    for method in ("gsa", "mtf_glp_hpm"):
        t_fit, params = timed(lambda: C.fit(method, ms, pan, 4, "WV3"))
        t_apply, _ = timed(lambda: C.pansharpen_tile(params, ms, pan, 4))
        print(f"{method:12s} {size}x{size}: fit {t_fit:.2f} s, upsample+apply {t_apply:.2f} s "
              f"-> {mpix / t_apply:.2f} Mpix/s (fit+apply {mpix / (t_fit + t_apply):.2f} Mpix/s)")


def _write_tif(path, arr, gt):
    from osgeo import gdal
    arr = arr if arr.ndim == 3 else arr[None]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0],
                                              gdal.GDT_UInt16, ["TILED=YES"])
    ds.SetGeoTransform(gt)
    for b in range(arr.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None


def bench_brovey(size: int, threads: int, repeat: int = 1) -> None:
    """The tool's Brovey path (rasters.pansharpen_classical) against GDAL's pansharpening VRT,
    same files, same thread count, same GeoTIFF creation options, UInt16 output for both."""
    from osgeo import gdal
    from rsai_toolbox.models.pansharpening import rasters
    from rsai_toolbox.models.runtime.raster import GTIFF_OPTIONS
    gdal.UseExceptions()
    ms, pan = synthetic_pair(size, bands=4)
    weights = [0.25, 0.25, 0.25, 0.25]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write_tif(tmp / "pan.tif", pan, (0, 1, 0, 0, 0, -1))
        _write_tif(tmp / "ms.tif", ms, (0, 4, 0, 0, 0, -4))
        del ms, pan
        bands = "".join(
            f'<SpectralBand dstBand="{i + 1}"><SourceFilename relativeToVRT="0">{tmp / "ms.tif"}'
            f"</SourceFilename><SourceBand>{i + 1}</SourceBand></SpectralBand>" for i in range(4))
        vrt = (f'<VRTDataset subClass="VRTPansharpenedDataset"><PansharpeningOptions>'
               f"<Algorithm>WeightedBrovey</Algorithm><AlgorithmOptions><Weights>"
               f"{','.join(map(str, weights))}</Weights></AlgorithmOptions>"
               f"<Resampling>Cubic</Resampling><NumThreads>{threads}</NumThreads>"
               f'<PanchroBand><SourceFilename relativeToVRT="0">{tmp / "pan.tif"}</SourceFilename>'
               f"<SourceBand>1</SourceBand></PanchroBand>{bands}</PansharpeningOptions></VRTDataset>")
        (tmp / "ps.vrt").write_text(vrt)
        options = [o for o in GTIFF_OPTIONS if not o.startswith("NUM_THREADS")] + [
            f"NUM_THREADS={threads}"]
        def theirs():
            gdal.Translate(str(tmp / "gdal.tif"), str(tmp / "ps.vrt"),
                           creationOptions=options).FlushCache()

        def ours():
            pair = rasters.open_pair(str(tmp / "pan.tif"), str(tmp / "ms.tif"))
            rasters.pansharpen_classical(pair, "brovey", str(tmp / "ours.tif"), output_type="input",
                                         weights=weights, callbacks=QUIET)

        t_gdal = t_ours = float("inf")
        for _ in range(repeat):  # alternate, so both see the same machine state
            t_gdal = min(t_gdal, timed(theirs)[0])
            t_ours = min(t_ours, timed(ours)[0])
        ours_ds, gdal_ds = gdal.Open(str(tmp / "ours.tif")), gdal.Open(str(tmp / "gdal.tif"))
        a = ours_ds.GetRasterBand(1).ReadAsArray(0, 0, 512, 512)
        b = gdal_ds.GetRasterBand(1).ReadAsArray(0, 0, 512, 512)
        ours_ds = gdal_ds = None
        diff = int(np.abs(a.astype(int) - b.astype(int)).max())
    mpix = size * size / 1e6
    print(f"weighted Brovey {size}x{size}, 4 bands, {threads} threads, best of {repeat}: "
          f"ours {t_ours:.2f} s "
          f"({mpix / t_ours:.1f} Mpix/s), GDAL VRT {t_gdal:.2f} s ({mpix / t_gdal:.1f} Mpix/s); "
          f"time ratio ours/GDAL = {t_ours / t_gdal:.2f} (max |ours - GDAL| {diff} DN on a corner)")


def bench_adwm(size: int, threads: int) -> None:
    import torch
    import onnxruntime as ort
    from rsai_toolbox.models.pansharpening import adwm as A
    torch.set_num_threads(threads)
    weights = REPO.parent / "shared" / "data" / "pansharpening" / "adwm_weights" / A.RELEASED_WEIGHTS["adwm_fusionnet"]
    net = A.load_adwm("adwm_fusionnet", weights) if weights.exists() else A.build_adwm("adwm_fusionnet")
    rng = np.random.default_rng(0)
    ms = rng.uniform(0, 1, (1, 8, size // 4, size // 4)).astype(np.float32)
    pan = rng.uniform(0, 1, (1, 1, size, size)).astype(np.float32)
    with torch.inference_mode():
        net(torch.from_numpy(ms), torch.from_numpy(pan))  # warm-up
        t_torch, _ = timed(lambda: net(torch.from_numpy(ms), torch.from_numpy(pan)), repeat=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = A.export_onnx(net, Path(tmp) / "fusionnet.onnx", ms_shape=(1, 8, 16, 16))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        sess.run(None, {"ms": ms, "pan": pan})
        t_ort, _ = timed(lambda: sess.run(None, {"ms": ms, "pan": pan}), repeat=3)
    mpix = size * size / 1e6
    print(f"ADWM-FusionNet CPU {size}x{size} PAN, {threads} threads: torch {mpix / t_torch:.3f} Mpix/s, "
          f"onnxruntime {mpix / t_ort:.3f} Mpix/s, ratio ort/torch speed = {t_torch / t_ort:.2f}")


def adwm_weights() -> Path:
    from rsai_toolbox.models.pansharpening import adwm as A
    return REPO.parent / "shared" / "data" / "pansharpening" / "adwm_weights" / \
        A.RELEASED_WEIGHTS["adwm_fusionnet"]


def adwm_memory_child(folder: str, threads: int) -> None:
    """One ADWM-FusionNet run of the tool's path on folder/pan.tif + ms.tif; prints seconds."""
    import torch
    from rsai_toolbox.models import cards
    from rsai_toolbox.models.pansharpening import adwm as A
    from rsai_toolbox.models.pansharpening import rasters
    torch.set_num_threads(threads)
    weights = adwm_weights()
    net = A.load_adwm("adwm_fusionnet", weights) if weights.exists() else A.build_adwm("adwm_fusionnet")
    card = cards.load_card(REPO / "models" / "cards" / "adwm-fusionnet.json")
    pair = rasters.open_pair(f"{folder}/pan.tif", f"{folder}/ms.tif")
    t = time.perf_counter()
    result = rasters.pansharpen_deep(pair, net, card, f"{folder}/fused.tif", 2047.0,
                                     callbacks=QUIET)
    print(f"{time.perf_counter() - t:.1f} {result.tiles}")


def bench_adwm_memory(sizes, threads: int) -> None:
    peaks = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            ms, pan = synthetic_pair(size)
            _write_tif(Path(tmp) / "pan.tif", pan, (0, 1, 0, 0, 0, -1))
            _write_tif(Path(tmp) / "ms.tif", ms, (0, 4, 0, 0, 0, -4))
            del ms, pan
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            run = subprocess.run([sys.executable, __file__, "--adwm-memory-child", tmp,
                                  "--threads", str(threads)], capture_output=True, text=True,
                                 check=True)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if peak <= before:
                print(f"  (peak of {size} not above an earlier child's; run sizes ascending)")
            peaks[size] = peak / 1024
            seconds, tiles = run.stdout.split()[-2:]
            print(f"ADWM-FusionNet {size}x{size} PAN, 8 bands, {threads} threads, {tiles} tiles: "
                  f"{float(seconds):.0f} s ({size * size / 1e6 / float(seconds):.2f} Mpix/s), "
                  f"peak memory {peaks[size]:.0f} MB")
    small, large = min(sizes), max(sizes)
    print(f"ADWM peak memory ratio {large}^2 / {small}^2 PAN = {peaks[large] / peaks[small]:.2f} "
          f"(pixels x{(large / small) ** 2:.0f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096, help="PAN size for the Brovey benchmark")
    ap.add_argument("--classical-size", type=int, default=2048, help="PAN size for GSA / MTF-GLP-HPM")
    ap.add_argument("--adwm-size", type=int, default=256, help="PAN size for ADWM-FusionNet")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=1, help="Brovey runs of each (best kept)")
    ap.add_argument("--brovey-only", action="store_true", help="skip GSA/MTF-GLP-HPM and ADWM")
    ap.add_argument("--adwm-memory", default="", help="PAN sizes, e.g. 4096,8192")
    ap.add_argument("--adwm-memory-child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.adwm_memory_child:
        adwm_memory_child(args.adwm_memory_child, args.threads)
        return
    if args.adwm_memory:
        bench_adwm_memory(sorted(int(s) for s in args.adwm_memory.split(",")), args.threads)
        return
    if not args.brovey_only:
        bench_classical(args.classical_size)
    bench_brovey(args.size, args.threads, args.repeat)
    if not args.brovey_only:
        bench_adwm(args.adwm_size, args.threads)


if __name__ == "__main__":
    main()

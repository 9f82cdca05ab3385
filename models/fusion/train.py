"""Train the aerial + Sentinel-2 DeepLabV3+ (``network.py``) on LandCover.ai-layout tiles and
export ONNX + a v2 model card.

Data (LandCover.ai's layout)::

    DATA/images/<name>.tif   aerial tiles or orthophotos (RGB, or RGBN with --aerial-bands 4;
                             an alpha band is a mask, not a band)
    DATA/masks/<name>.tif    classes on the same grid: 0 background, 1 building, 2 woodland,
                             3 water, 4 road (other values are ignored)
    DATA/train.txt, val.txt, test.txt   optional: names (file stems) of each split, one a line,
                             as LandCover.ai ships them; without them a seeded --val-fraction
                             of the tiles is held out

Images are cut into --tile-size tiles (padding at their edges is ignored in the loss and the
metrics). Sentinel-2, on any grid and CRS, comes from either

* ``--satellite S2.tif``: one raster, read for each tile's footprint with GDAL (a window read
  when it is already on the tile's ratio grid, else only that footprint warped, bilinear), or
* ``--satellite-dir CHIPS``: one GeoTIFF per aerial file, matched by name (``CHIPS/<name>.tif``),
  read the same way; a chip whose aerial tile has no georeferencing (LandCover.ai's split.py
  JPEG tiles) is taken to cover that tile exactly.

The satellite grid of a tile has pixels ``--ratio`` times the aerial pixel (40 for 25 cm aerial
and 10 m Sentinel-2, 20 for 50 cm). Without a satellite source a single-source DeepLabV3+ is
trained. Satellite pixels outside the raster or nodata enter the network as 0 (the band mean).

Usage::

    python -m rsai_toolbox.models.fusion.train --data landcover.ai --satellite s2_l2a.tif \\
        --satellite-bands B02,B03,B04,B08 --ratio 40 --tile-size 480 --out runs/fusion

writes ``model.onnx`` (inputs ``aerial`` float32 N x C x T x T and ``satellite`` N x S x T/r x T/r,
output ``output`` N x 5 x T x T; T a multiple of 16 and of the ratio; dynamic batch and T), its
card ``model.json`` (v2 layout: ``inputs`` list with the aerial at ratio 1 and the satellite at
ratio r, normalisation, tiling, classes, metrics; also embedded in the ONNX as ``rsai_card``),
``model.pth`` (state dict) and ``metrics.json`` (per-class IoU, mIoU, pixel accuracy on the
validation and test splits). The aerial is normalised with ImageNet mean/std after /255; the
satellite with per-band mean/std of the training tiles' footprints.

Pretrained encoders (``--encoder-weights``) come only through the project's weights store: a
local .safetensors/.pth file, or a Hub reference ``owner/repo@<40-hex commit>:path`` downloaded
into ``--cache-dir`` (sha256 recorded on first use). smp never downloads anything.

Publishing on the Hugging Face Hub (``pip install huggingface_hub``, a write token)::

    huggingface-cli login
    huggingface-cli upload YOUR_USER/fusion-landcover runs/fusion . --repo-type model
    # or in Python:
    #   from huggingface_hub import HfApi
    #   HfApi().upload_folder(folder_path="runs/fusion", repo_id="YOUR_USER/fusion-landcover")

then pin it: add to ``model.json`` ``"weights": {"repo_id": "YOUR_USER/fusion-landcover",
"revision": "<40-hex commit id the upload printed; never a branch name>", "filename":
"model.onnx", "sha256": "<files.sha256>"}`` and upload the card again. LandCover.ai is
CC BY-NC-SA 4.0: weights trained on it should carry a licence that respects it (--licence).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..callbacks import Callbacks
from ..cards import InputSpec
from ..errors import UserError
from ..farmland.ftw import match_bands
from ..hub import WeightsSource, WeightsStore
from ..runtime.grids import Grid
from ..runtime.onnx_export import write_trained_card
from ..runtime.raster import open_raster, raster_info
from ..runtime.sources import InputSource, alpha_bands, choose_bands, fill_invalid
from . import network
from .landcover import ground_pixel_m

IGNORE = 255
MEAN = (0.485, 0.456, 0.406, 0.5)  # ImageNet RGB; NIR (4th band) gets a neutral 0.5 / 0.25
STD = (0.229, 0.224, 0.225, 0.25)
CLASSES = [{"value": 0, "name": "background", "color": "#f2efe9"},
           {"value": 1, "name": "building", "color": "#e31a1c"},
           {"value": 2, "name": "woodland", "color": "#33a02c"},
           {"value": 3, "name": "water", "color": "#1f78b4"},
           {"value": 4, "name": "road", "color": "#ff7f00"}]
CITATION = ("Berka, A., El Hajji, M., Canals, R., Es-saady, Y., Hafiane, A. (2025). Enhancing "
            "DeepLabV3+ to Fuse Aerial and Satellite Images for Semantic Segmentation. "
            "arXiv:2503.22909. Data: Boguszewski, A. et al. (2021). LandCover.ai: Dataset for "
            "Automatic Mapping of Buildings, Woodlands, Water and Roads from Aerial Imagery. "
            "CVPR Workshops, doi:10.1109/CVPRW53098.2021.00121 (CC BY-NC-SA 4.0).")
SATELLITE_STATS_SAMPLES = 256  # training footprints read for the satellite mean/std
AERIAL_PAD, SATELLITE_PAD = "reflect", "edge"  # how tiles past a raster's edge are filled


@dataclass(frozen=True)
class Tile:
    """One aerial file of the dataset with its mask and (optional) satellite chip."""

    name: str
    image: Path
    mask: Path
    chip: Path | None = None


def find_tiles(data_dir: Path, satellite_dir: Path | None = None) -> list[Tile]:
    """Aerial files in ``images/`` with a mask of the same stem in ``masks/`` (and a chip)."""
    images = _by_stem(data_dir / "images")
    masks = _by_stem(data_dir / "masks")
    names = sorted(images.keys() & masks.keys())
    if not names:
        raise UserError(f"{data_dir} has no images/<name> with a matching masks/<name> "
                        "(LandCover.ai layout: images/ and masks/ of GeoTIFFs, same names)")
    chips = {}
    if satellite_dir is not None:
        chips = _by_stem(satellite_dir)
        missing = [n for n in names if n not in chips]
        if missing:
            raise UserError(f"no satellite chip in {satellite_dir} for {len(missing)} tile(s), "
                            f"e.g. {', '.join(missing[:3])}: name each chip like its aerial tile "
                            "(<name>.tif)")
    return [Tile(n, images[n], masks[n], chips.get(n)) for n in names]


def _by_stem(folder: Path) -> dict[str, Path]:
    suffixes = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".vrt"}
    return {p.stem: p for p in sorted(folder.glob("*")) if p.suffix.lower() in suffixes} \
        if folder.is_dir() else {}


def split_tiles(tiles: list[Tile], data_dir: Path, val_fraction: float = 0.2,
                seed: int = 0) -> dict[str, list[Tile]]:
    """train/val/test from LandCover.ai's train.txt, val.txt, test.txt, else a seeded hold-out."""
    lists = {s: data_dir / f"{s}.txt" for s in ("train", "val", "test")}
    if lists["train"].is_file():
        by_name = {t.name: t for t in tiles}
        splits = {}
        for split, path in lists.items():
            names = [n.strip() for n in path.read_text().splitlines() if n.strip()] \
                if path.is_file() else []
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise UserError(f"{path} names {len(unknown)} tile(s) not in images/ and masks/, "
                                f"e.g. {', '.join(unknown[:3])}")
            splits[split] = [by_name[n] for n in names]
        return splits
    if not 0 < val_fraction < 1 or len(tiles) < 2:
        raise UserError("hold out a validation split: give train.txt/val.txt, or at least two "
                        "tiles and --val-fraction between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(tiles))
    n_val = max(1, round(len(tiles) * val_fraction))
    return {"train": [tiles[i] for i in sorted(order[n_val:])],
            "val": [tiles[i] for i in sorted(order[:n_val])], "test": []}


class TileReader:
    """Reads training samples the way the engine reads tiles at inference: the aerial window
    and the satellite footprint through ``runtime.sources.InputSource`` (window read when the
    satellite lies on the tile's ratio grid, else that footprint alone warped), missing pixels
    filled by the card's padding (``fill_invalid``), plus the mask window."""

    def __init__(self, tile_size: int, ratio: int, aerial_channels: int = 3,
                 satellite: Path | None = None, satellite_bands=None,
                 resampling: str = "bilinear"):
        self.tile_size, self.ratio = tile_size, ratio
        self.satellite_path = satellite
        self.satellite_bands = satellite_bands  # 1-based, in card order; None: all
        self.aerial_spec = InputSpec(bands=("R", "G", "B", "NIR")[:aerial_channels],
                                     name="aerial", pad=AERIAL_PAD)
        self.satellite_spec = InputSpec(bands=("satellite",), name="satellite", ratio=ratio,
                                        resampling=resampling, pad=SATELLITE_PAD)

    def windows(self, tile: Tile) -> list[tuple[int, int]]:
        """(col0, row0) of the tile_size windows covering one aerial file (last ones padded)."""
        ds = open_raster(tile.image, "aerial image")
        return [(c, r) for r in range(0, ds.RasterYSize, self.tile_size)
                for c in range(0, ds.RasterXSize, self.tile_size)]

    def read(self, tile: Tile, col0: int, row0: int, with_satellite: bool = True):
        """(aerial (C,T,T) float32 0-255, mask (T,T) uint8 with IGNORE where no label or no
        image, satellite (S, T/r, T/r) float32 or None), missing pixels filled."""
        t = self.tile_size
        aerial = self._source(self.aerial_spec, tile.image, None)
        try:
            block = aerial.read(col0, row0, t, t)
            grid = aerial.grid
        finally:
            aerial.close()
        mask_ds = open_raster(tile.mask, "mask")
        if (mask_ds.RasterXSize, mask_ds.RasterYSize) != (grid.width, grid.height):
            raise UserError(f"mask {tile.mask.name} is {mask_ds.RasterXSize} x "
                            f"{mask_ds.RasterYSize} pixels but its image {tile.image.name} is "
                            f"{grid.width} x {grid.height}: masks lie on their image's grid")
        w, h = min(t, grid.width - col0), min(t, grid.height - row0)
        mask = np.full((t, t), IGNORE, np.uint8)
        mask[:h, :w] = mask_ds.GetRasterBand(1).ReadAsArray(col0, row0, w, h)
        mask[(mask > 4) | ~block.valid] = IGNORE
        satellite = None
        if with_satellite:
            sat = self.satellite(tile, col0, row0, grid)
            satellite = fill_invalid(sat, SATELLITE_PAD) if sat is not None else None
        return fill_invalid(block, AERIAL_PAD), mask, satellite

    def satellite(self, tile: Tile, col0: int, row0: int, grid: Grid | None = None):
        """The satellite ``Block`` (values, valid) under a window, or None without a source."""
        path = tile.chip or self.satellite_path
        if path is None:
            return None
        if grid is None:
            grid = Grid.of(open_raster(tile.image, "aerial image"))
        side, r = self.tile_size // self.ratio, self.ratio
        if not grid.crs and grid.geotransform == (0, 1, 0, 0, 0, 1):
            if tile.chip is None:
                raise UserError(f"{tile.image.name} has no georeferencing, so its footprint in "
                                "the satellite raster is unknown: give GeoTIFF tiles, or one "
                                "satellite chip per tile with --satellite-dir")
            grid = self._chip_grid(grid, open_raster(path, "satellite chip"))
        source = self._source(self.satellite_spec, path, grid)
        try:
            return source.read(col0 // r, row0 // r, side, side)
        finally:
            source.close()

    def _source(self, spec: InputSpec, path: Path, primary: Grid | None) -> InputSource:
        dataset = open_raster(path, f"{spec.name} raster")
        if spec.name == "satellite":
            bands = self.satellite_bands or list(range(1, dataset.RasterCount + 1))
        else:
            bands = choose_bands(spec, raster_info(dataset), None, alpha_bands(dataset))
        return InputSource(spec, str(path), bands, primary)

    def _chip_grid(self, grid: Grid, chip) -> Grid:
        """An ungeoreferenced aerial tile (LandCover.ai's split.py JPEGs) takes the chip's
        extent and CRS: the chip is taken to cover the tile exactly."""
        x0, y0 = chip.GetGeoTransform()[0], chip.GetGeoTransform()[3]
        width = chip.GetGeoTransform()[1] * chip.RasterXSize
        height = chip.GetGeoTransform()[5] * chip.RasterYSize
        return Grid(grid.width, grid.height, (x0, width / grid.width, 0.0, y0, 0.0,
                                              height / grid.height), chip.GetProjection() or "")


def satellite_band_indices(path: Path, names: list[str] | None) -> tuple[list[int], list[str]]:
    """1-based bands and their card names: the named ones (matched on band descriptions) or all."""
    ds = open_raster(path, "satellite raster")
    descriptions = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    if names:
        return [i + 1 for i in match_bands(descriptions, names)], list(names)
    return (list(range(1, ds.RasterCount + 1)),
            [d.strip() or f"band_{i + 1}" for i, d in enumerate(descriptions)])


def ratio_warning(tile: Tile, satellite: Path, ratio: int) -> str | None:
    """A warning when the satellite's ground pixel is far from ``ratio`` aerial pixels (e.g.
    ratio 40, meant for 25 cm imagery, given 50 cm tiles); None when it fits or is unknown."""
    aerial_m = ground_pixel_m(open_raster(tile.image, "aerial image"))
    satellite_m = ground_pixel_m(open_raster(satellite, "satellite"))
    if aerial_m is None or satellite_m is None:
        return None
    actual = satellite_m / aerial_m
    if abs(actual / ratio - 1) <= 0.25:
        return None
    return (f"the satellite pixel ({satellite_m:g} m) is {actual:.1f} aerial pixels "
            f"({aerial_m:g} m), but the ratio is {ratio}: the satellite is resampled to "
            f"{aerial_m * ratio:g} m. Set --ratio {round(actual)} unless this is meant.")


def satellite_statistics(reader: TileReader, samples, seed: int) -> tuple[list, list]:
    """Per-band mean and std of the satellite over (up to 256) training footprints."""
    rng = np.random.default_rng(seed)
    picked = rng.permutation(len(samples))[:SATELLITE_STATS_SAMPLES]
    values = []
    for k in picked:
        tile, col0, row0 = samples[k]
        block = reader.satellite(tile, col0, row0)
        values.append(block.values[:, block.valid])
    stacked = np.concatenate(values, axis=1).astype(np.float64)
    if not stacked.size:
        raise UserError("the satellite raster covers none of the training tiles: check that both "
                        "show the same place and that their CRS are set right")
    std = np.maximum(stacked.std(axis=1), 1e-6)
    return [float(v) for v in stacked.mean(axis=1)], [float(v) for v in std]


def _normalise(aerial: np.ndarray, satellite, sat_mean, sat_std):
    channels = aerial.shape[-3]
    mean = np.asarray(MEAN[:channels], np.float32)[:, None, None]
    std = np.asarray(STD[:channels], np.float32)[:, None, None]
    aerial = (aerial / np.float32(255) - mean) / std
    if satellite is not None:
        satellite = (satellite - np.asarray(sat_mean, np.float32)[:, None, None]) / \
            np.asarray(sat_std, np.float32)[:, None, None]
    return aerial.astype(np.float32), satellite


def _batches(reader, samples, batch_size, sat_stats, rng, train: bool):
    """Yield (aerial, satellite or None, mask) numpy batches; training shuffles and flips."""
    order = rng.permutation(len(samples)) if train else np.arange(len(samples))
    for start in range(0, len(order), batch_size):
        aerials, sats, masks = [], [], []
        for k in order[start:start + batch_size]:
            tile, col0, row0 = samples[k]
            aerial, mask, sat = reader.read(tile, col0, row0, with_satellite=sat_stats is not None)
            if train:  # the same flip for the aerial, its mask and its satellite footprint
                for axis in (-1, -2):
                    if rng.random() < 0.5:
                        aerial, mask = np.flip(aerial, axis), np.flip(mask, axis)
                        sat = None if sat is None else np.flip(sat, axis)
            aerial, sat = _normalise(aerial, sat, *(sat_stats or (None, None)))
            aerials.append(np.ascontiguousarray(aerial))
            masks.append(np.ascontiguousarray(mask))
            sats.append(None if sat is None else np.ascontiguousarray(sat))
        yield (np.stack(aerials), None if sats[0] is None else np.stack(sats),
               np.stack(masks).astype(np.int64))


def confusion_to_metrics(confusion: np.ndarray) -> dict:
    """Per-class IoU (None where the class is in neither labels nor predictions), mIoU over the
    classes that occur, and pixel accuracy."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = [float(t / u) if u else None for t, u in zip(tp, union)]
    present = [v for v in iou if v is not None]
    total = confusion.sum()
    return {"iou": {c["name"]: v for c, v in zip(CLASSES, iou)},
            "miou": float(np.mean(present)) if present else None,
            "accuracy": float(tp.sum() / total) if total else None, "pixels": int(total)}


def evaluate(predict, reader, samples, sat_stats, batch_size: int = 4) -> dict:
    """Metrics of ``predict(aerial, satellite) -> logits`` (numpy) over labelled pixels."""
    k = len(CLASSES)
    confusion = np.zeros((k, k), np.int64)
    for aerial, sat, mask in _batches(reader, samples, batch_size, sat_stats,
                                      np.random.default_rng(0), train=False):
        pred = predict(aerial, sat).argmax(1)
        valid = mask != IGNORE
        confusion += np.bincount(mask[valid] * k + pred[valid], minlength=k * k).reshape(k, k)
    return confusion_to_metrics(confusion)


def torch_predictor(model, device: str = "cpu"):
    import torch

    def predict(aerial, satellite):
        with torch.no_grad():
            args = [torch.from_numpy(aerial).to(device)]
            if satellite is not None:
                args.append(torch.from_numpy(satellite).to(device))
            return model(*args).cpu().numpy()
    return predict


def encoder_weights_path(reference: str, cache_dir: str | Path | None = None,
                         log: Callable[[str], None] = Callbacks().log) -> Path:
    """A local file, or a Hub reference fetched (and sha256-checked) by the weights store."""
    path = Path(reference).expanduser()
    if path.is_file():
        return path
    if "@" not in reference:
        raise UserError(f"encoder weights {reference!r} are neither a file nor a Hub reference "
                        "owner/repo@<40-hex commit>:path/weights.safetensors")
    if cache_dir is None:
        raise UserError("downloading encoder weights needs --cache-dir (the weights store)")
    return WeightsStore(cache_dir, log=log).fetch(WeightsSource.parse_hub_reference(reference))


def v2_card(*, model_id, encoder, fusion, aerial_channels, satellite_names, ratio, sat_stats,
            tile_size, metrics, licence, aerial_m=None, classes=CLASSES) -> dict:
    """The model card in the Engine v2 layout (inputs list; first input = output grid).
    ``aerial_m``: the training tiles' pixel in metres, when known."""
    inputs = [{"name": "aerial", "bands": ["R", "G", "B", "NIR"][:aerial_channels],
               "transform": "linear", "scale": 255, "mean": list(MEAN[:aerial_channels]),
               "std": list(STD[:aerial_channels]), "ratio": 1, "resampling": "bilinear",
               "pad": AERIAL_PAD, "optional": False}]
    if satellite_names:
        inputs.append({"name": "satellite", "bands": list(satellite_names), "transform": "linear",
                       "scale": 1, "mean": sat_stats[0], "std": sat_stats[1], "ratio": ratio,
                       "resampling": "bilinear", "pad": SATELLITE_PAD, "optional": False})
    if aerial_m:
        for spec in inputs:
            spec["resolution_m"] = round(aerial_m * spec["ratio"], 6)
    overlap = max(ratio if satellite_names else 16, (tile_size // 8) // ratio * ratio)
    two = bool(satellite_names)
    return {
        "id": model_id, "task": "segmentation", "format": "onnx",
        "title": (f"LandCover.ai aerial + satellite DeepLabV3+ ({encoder}, ratio {ratio})" if two
                  else f"LandCover.ai aerial DeepLabV3+ ({encoder})"),
        "description": ("Land cover (background, building, woodland, water, road) from aerial "
                        "orthophotos" + (" fused with co-registered satellite bands "
                                         f"{', '.join(satellite_names)} (pixel = {ratio} aerial "
                                         "pixels) by transposed convolutions into DeepLabV3+'s "
                                         "high-level features" if two else "")
                        + ". Trained with rsai_toolbox.models.fusion.train; metrics: per-class "
                        "IoU and mIoU on the held-out splits."),
        "architecture": {"name": "fusion_deeplabv3plus", "kwargs": {
            "classes": len(classes), "aerial_channels": aerial_channels,
            "satellite_channels": len(satellite_names or ()), "ratio": ratio,
            "encoder_name": encoder, "fusion": fusion}},
        "inputs": inputs,
        "tiling": {"tile_size": tile_size, "overlap": overlap, "blend": "linear"},
        "head": {"type": "dense"},
        "outputs": {"classes": classes, "activation": "softmax"},
        "licence": licence, "citation": CITATION,
        "metrics": {k: metrics.get(k) for k in ("val", "test")},
    }


def train(data_dir, out_dir, *, satellite=None, satellite_dir=None, satellite_bands=None,
          ratio: int = 40, epochs: int = 20, encoder: str = "resnet18", fusion: str = "concat",
          encoder_weights: str | None = None, cache_dir=None, aerial_channels: int = 3,
          batch_size: int = 8, lr: float = 1e-3, tile_size: int = 480, val_fraction: float = 0.2,
          seed: int = 0, device: str = "cpu", model_id: str | None = None,
          licence: str = "CC-BY-NC-SA-4.0 (trained on LandCover.ai)",
          callbacks: Callbacks = Callbacks()) -> dict:
    """Train, keep the epoch with the best validation mIoU, evaluate, export ONNX + card.

    Returns the metrics also written to ``out_dir/metrics.json``.
    """
    import torch

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if satellite is not None and satellite_dir is not None:
        raise UserError("give either one satellite raster or a folder of chips, not both")
    if epochs < 1:
        raise UserError("train for at least one epoch")
    if aerial_channels not in (3, 4):
        raise UserError("the aerial image has 3 (RGB) or 4 (RGBN) bands")
    satellite_dir = Path(satellite_dir) if satellite_dir else None
    tiles = find_tiles(data_dir, satellite_dir)
    splits = split_tiles(tiles, data_dir, val_fraction, seed)
    two = satellite is not None or satellite_dir is not None
    band_source = Path(satellite) if satellite else (tiles[0].chip if two else None)
    bands, names = satellite_band_indices(band_source, satellite_bands) if two else (None, None)

    torch.manual_seed(seed)
    model = network.FusionDeepLabV3Plus(len(CLASSES), aerial_channels, len(bands or ()), ratio,
                                        encoder, fusion)
    if tile_size % model.tile_multiple:
        raise UserError(f"tile size {tile_size} must be a multiple of {model.tile_multiple} "
                        f"(the encoder's stride 16{f' and the ratio {ratio}' if two else ''})")
    if encoder_weights:
        unused = network.load_encoder_weights(
            model, encoder_weights_path(encoder_weights, cache_dir, callbacks.log))
        callbacks.log(f"encoder weights loaded from {encoder_weights}"
            + (f"; {len(unused)} classifier weight(s) not used" if unused else ""))
    model = model.to(device)
    reader = TileReader(tile_size, ratio, aerial_channels, Path(satellite) if satellite else None,
                        bands)
    samples = {s: [(t, c, r) for t in splits[s] for c, r in reader.windows(t)] for s in splits}
    if not samples["train"] or not samples["val"]:
        raise UserError("both the training and the validation split need at least one tile")
    if two:
        warning = ratio_warning(tiles[0], tiles[0].chip or Path(satellite), ratio)
        if warning:
            callbacks.warn(warning)
    sat_stats = satellite_statistics(reader, samples["train"], seed) if two else None

    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    history, best, best_state = [], None, None
    predict = torch_predictor(model, device)
    for epoch in range(epochs):
        model.train()
        losses = []
        for aerial, sat, mask in _batches(reader, samples["train"], batch_size, sat_stats, rng,
                                          train=True):
            callbacks.check_cancelled("training")
            if len(mask) < 2:
                continue  # batch norm needs two samples; the next epoch shuffles differently
            args = [torch.from_numpy(aerial).to(device)]
            if sat is not None:
                args.append(torch.from_numpy(sat).to(device))
            optimiser.zero_grad()
            loss = loss_fn(model(*args), torch.from_numpy(mask).to(device))
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        model.eval()
        val = evaluate(predict, reader, samples["val"], sat_stats, batch_size)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None,
                        "val_miou": val["miou"]})
        score = val["miou"] if val["miou"] is not None else -1.0
        if best is None or score > best[1]:
            best = (epoch + 1, score)
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        callbacks.progress(0.9 * (epoch + 1) / epochs)

    model.load_state_dict(best_state)
    model.eval()
    metrics = {"val": evaluate(predict, reader, samples["val"], sat_stats, batch_size),
               "test": (evaluate(predict, reader, samples["test"], sat_stats, batch_size)
                        if samples["test"] else None),
               "best_epoch": best[0], "history": history,
               "tiles": {s: len(splits[s]) for s in splits},
               "windows": {s: len(samples[s]) for s in samples}}

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, pth_path = out_dir / "model.onnx", out_dir / "model.pth"
    torch.save(best_state, pth_path)
    card = v2_card(model_id=model_id or (f"fusion-landcover-{encoder}" if two
                                         else f"landcover-{encoder}"),
                   encoder=encoder, fusion=fusion, aerial_channels=aerial_channels,
                   satellite_names=names, ratio=ratio, sat_stats=sat_stats, tile_size=tile_size,
                   metrics=metrics, licence=licence,
                   aerial_m=ground_pixel_m(open_raster(tiles[0].image, "aerial image")))
    partial = onnx_path.with_name(f".{onnx_path.name}.partial")  # renamed once complete
    network.export_fusion_onnx(model, partial, tile_size, aerial_channels, len(bands or ()),
                               card)
    partial.replace(onnx_path)
    model.to(device)
    metrics = write_trained_card(card, onnx_path, pth_path, metrics, out_dir)
    callbacks.progress(1.0)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rsai_toolbox.models.fusion.train",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with images/ and masks/")
    parser.add_argument("--out", required=True, help="output folder for model.onnx and its card")
    parser.add_argument("--satellite", help="one satellite raster read per tile footprint")
    parser.add_argument("--satellite-dir", help="folder of satellite chips named like the tiles")
    parser.add_argument("--satellite-bands",
                        help="comma-separated band names, e.g. B02,B03,B04,B08")
    parser.add_argument("--ratio", type=int, default=40, help="satellite pixel / aerial pixel")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--encoder", default="resnet18", help="any smp encoder name")
    parser.add_argument("--fusion", choices=network.FUSIONS, default="concat")
    parser.add_argument("--encoder-weights", help="pretrained encoder: a local file or "
                        "owner/repo@<commit>:path (downloaded into --cache-dir)")
    parser.add_argument("--cache-dir", help="weights store folder for --encoder-weights")
    parser.add_argument("--aerial-bands", type=int, choices=(3, 4), default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--tile-size", type=int, default=480)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model-id")
    parser.add_argument("--licence", default="CC-BY-NC-SA-4.0 (trained on LandCover.ai)")
    args = parser.parse_args(argv)
    try:
        metrics = train(
            args.data, args.out, satellite=args.satellite, satellite_dir=args.satellite_dir,
            satellite_bands=args.satellite_bands.split(",") if args.satellite_bands else None,
            ratio=args.ratio, epochs=args.epochs, encoder=args.encoder, fusion=args.fusion,
            encoder_weights=args.encoder_weights, cache_dir=args.cache_dir,
            aerial_channels=args.aerial_bands, batch_size=args.batch_size, lr=args.lr,
            tile_size=args.tile_size, val_fraction=args.val_fraction, seed=args.seed,
            device=args.device, model_id=args.model_id, licence=args.licence,
            callbacks=Callbacks(progress=lambda f: print(f"progress {f:.0%}", file=sys.stderr)))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: metrics[k] for k in ("val", "test", "best_epoch", "onnx", "card")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Language-driven farmland masks: a CLIPSeg prompter run over a whole raster by the engine.

The prompter (``clipseg.ClipSegPrompter``) sees one RGB tile at a time; wrapped as a
``Predictor`` (batch (N, 3, H, W) -> (N, 1, H, W) probability) it runs through the same tiling
engine as every model, so any raster size and resolution work and overlapping tiles are
blended. The probability raster is then thresholded into a Byte mask block by block.

Weights: the transformers.js export ``Xenova/clipseg-rd64-refined`` on the Hugging Face Hub
(``onnx/model.onnx`` and ``tokenizer.json``; CLIPSeg, Lüddecke & Ecker, CVPR 2022; the
original ``CIDAS/clipseg-rd64-refined`` weights are Apache-2.0). No revision is pinned here:
pass ``owner/repo@<40-hex commit>:onnx/model.onnx`` (its tokenizer.json is fetched from the
same commit; both are recorded by sha256 on first use) or local files.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..callbacks import Callbacks
from ..cards import ModelCard, OutputSpec, TargetInfo
from ..errors import UserError
from ..hub import WeightsSource, WeightsStore
from ..registry import find_card, looks_like_hub_reference
from ..runtime import raster
from ..runtime.backends import Predictor
from ..runtime.engine import Destination, RunOptions, RunResult, run
from ..runtime.gdal_exceptions import gdal_exceptions

CARD_ID = "clipseg-rd64-refined"  # models/cards/: tiling, input, licence, citation
MASK_CLASSES = ((0, "other", "#000000"), (1, "prompt", "#f2c12e"))
HUB_EXAMPLE = "Xenova/clipseg-rd64-refined@<40-hex commit>:onnx/model.onnx"


def resolve_clipseg_files(model: str, tokenizer: str | None, store: WeightsStore,
                          callbacks: Callbacks = Callbacks()) -> tuple[Path, Path, str]:
    """(onnx, tokenizer.json, description) from local paths or a pinned Hub reference."""
    model = (model or "").strip()
    if not model:
        raise UserError(f"MODEL is empty: give a CLIPSeg ONNX file or a Hub reference {HUB_EXAMPLE}")
    if looks_like_hub_reference(model):
        source = WeightsSource.parse_hub_reference(model)
        onnx = store.fetch(source, callbacks.progress, callbacks.is_cancelled)
        if tokenizer:
            tok = Path(tokenizer)
        else:
            tok = store.fetch(WeightsSource(repo_id=source.repo_id, revision=source.revision,
                                            filename="tokenizer.json"),
                             None, callbacks.is_cancelled)
        return onnx, tok, source.describe()
    onnx = Path(model).expanduser()
    if not onnx.is_file():
        raise UserError(f"the CLIPSeg ONNX file {onnx} does not exist; download onnx/model.onnx "
                        f"and tokenizer.json from huggingface.co/Xenova/clipseg-rd64-refined, or "
                        f"give a Hub reference {HUB_EXAMPLE}")
    if tokenizer:
        tok = Path(tokenizer).expanduser()
    else:  # the Hub layout: onnx/model.onnx beside ../tokenizer.json
        candidates = [onnx.with_name("tokenizer.json"), onnx.parent.parent / "tokenizer.json"]
        tok = next((c for c in candidates if c.is_file()), candidates[0])
    if not tok.is_file():
        raise UserError(f"tokenizer.json not found ({tok}); set TOKENIZER to the tokenizer.json "
                        "that belongs to the ONNX model")
    return onnx, tok, f"local file {onnx}"


def prompt_card(prompt: str, scale: float) -> ModelCard:
    """The CLIPSeg card for one prompt: its output named after the prompt, and the value
    scale that turns this raster's RGB into 0-1."""
    card = find_card(CARD_ID)
    return replace(card, inputs=(replace(card.primary, scale=scale),),
                   outputs=(OutputSpec(card.output.name, targets=(TargetInfo(f"P({prompt})"),)),))


def prompt_predictor(prompter, prompt: str) -> Predictor:
    """Batch (N, 3, H, W) of 0-1 RGB -> (N, 1, H, W) probability of ``prompt``."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("PROMPT is empty; describe what to find, e.g. 'farmland' or 'rice paddies'")
    prompter.tokenize(prompt)  # fail before any tile is read

    def run(inputs) -> dict[str, np.ndarray]:
        batch = next(iter(inputs.values()))
        out = np.empty((batch.shape[0], 1, *batch.shape[2:]), np.float32)
        for i, tile in enumerate(batch):
            out[i, 0] = prompter.predict(np.clip(tile, 0.0, 1.0), prompt)
        return {"probability": out}

    return Predictor(run, "onnxruntime " + prompter.session.get_providers()[0])


def rgb_scale(path: str, bands: Sequence[int]) -> tuple[float, str]:
    """What to divide by for 0-1 RGB: 255 for 8-bit, 1 for 0-1, else the 99th percentile."""
    from osgeo import gdal
    ds = raster.open_raster(path)
    if all(ds.GetRasterBand(b).DataType == gdal.GDT_Byte for b in bands):
        return 255.0, "8-bit RGB / 255"
    step = max(1, max(ds.RasterXSize, ds.RasterYSize) // 512)
    sample = ds.ReadAsArray(band_list=list(bands), buf_xsize=max(1, ds.RasterXSize // step),
                            buf_ysize=max(1, ds.RasterYSize // step)).astype(np.float64)
    values = sample[np.isfinite(sample) & (sample != 0)]
    if values.size == 0:
        return 255.0, "empty sample, assumed 8-bit"
    high = float(np.percentile(values, 99))
    if high <= 1.5:
        return 1.0, "reflectance 0-1"
    if values.max() <= 255:
        return 255.0, "values 0-255"
    return high, f"stretched: value / {high:g} (99th percentile)"


@gdal_exceptions()
def prompt_mask(prompter, prompt: str, input_path: str, output_path: str,
                probabilities_path: str | None = None, threshold: float = 0.5,
                bands: Sequence[int] | None = None, options: RunOptions | None = None,
                callbacks: Callbacks = Callbacks()) -> RunResult:
    """Write the prompt's probability (optional) and the mask probability > threshold."""
    if not 0.0 < threshold < 1.0:
        raise UserError(f"THRESHOLD must be between 0 and 1 (exclusive), not {threshold}")
    predictor = prompt_predictor(prompter, prompt)
    info = raster.raster_info(raster.open_raster(input_path))
    bands = list(bands or [])
    if not bands:
        if info.band_count < 3:
            raise UserError(f"{input_path} has {info.band_count} band(s); the prompt mode needs "
                            "an RGB raster (3 bands, or pick them with BANDS).")
        bands = [1, 2, 3]
    if len(bands) != 3:
        raise UserError(f"BANDS must name 3 bands (red, green, blue), not {len(bands)}")
    scale, how = rgb_scale(input_path, bands)
    card = prompt_card(prompt.strip(), scale)
    options = replace(options or RunOptions(), bands={card.primary.name: bands})
    callbacks.log(f"prompt '{prompt.strip()}', threshold {threshold}; input bands {bands} ({how})")
    raster.check_outputs([p for p in (output_path, probabilities_path) if p], [input_path])
    with tempfile.TemporaryDirectory(prefix="rsai_prompt_") as folder:
        probability = probabilities_path or str(Path(folder) / "probability.tif")
        result = run(card, predictor, {card.primary.name: input_path}, [Destination(probability)],
                     options, callbacks.part(0, 0.95))
        fraction = threshold_raster(probability, output_path, threshold)
    callbacks.progress(1.0)
    callbacks.log(f"{fraction:.1%} of the valid pixels match '{prompt.strip()}'")
    return result


def threshold_raster(probability_path: str, mask_path: str, threshold: float,
                     rows: int = 256) -> float:
    """Byte mask (1 where probability > threshold, 0 elsewhere, 255 nodata); returns the share
    of valid pixels above the threshold."""
    source = raster.open_raster(probability_path)
    info = raster.raster_info(source)
    out = raster.create_like(info, mask_path, 1, raster.gdal.GDT_Byte, raster.CLASS_NODATA,
                             ["mask"], MASK_CLASSES)
    band = source.GetRasterBand(1)
    above = valid = 0
    with raster.committed_outputs([out]):
        for y in range(0, info.height, rows):
            h = min(rows, info.height - y)
            p = band.ReadAsArray(0, y, info.width, h)
            ok = p != raster.FLOAT_NODATA
            mask = np.where(ok, (p > threshold).astype(np.uint8), raster.CLASS_NODATA)
            out.write(mask.astype(np.uint8), 0, y)
            above += int(np.count_nonzero(mask == 1))
            valid += int(ok.sum())
    return above / valid if valid else 0.0

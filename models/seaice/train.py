"""Train a multi-task sea-ice U-Net (SIC, SOD, FLOE) on AI4Arctic ready-to-train scenes.

The AI4Arctic / AutoICE ready-to-train data (Buus-Hinkler et al. 2022, DOI
10.11583/DTU.21316608; the AutoICE challenge, Stokholm et al. 2024) is one netCDF file per
Sentinel-1 scene at 80 m with ``nersc_sar_primary`` (HH, dB, NERSC noise-corrected),
``nersc_sar_secondary`` (HV, dB), ``sar_incidenceangle`` (degrees) and the ice-chart targets
``SIC`` (0-10 tenths), ``SOD`` (6 classes), ``FLOE`` (7 classes), 255 = masked. Inputs are
normalised with the data set's statistics (models/seaice/sar.py) and NaN SAR pixels masked in
every target. As in the AutoICE winners' multi-task U-Net, one smp U-Net body feeds three
classification heads; the loss is the cross entropy of each head weighted 2/2/1 like the
combined AutoICE score. Encoder weights are never downloaded by smp (``encoder_weights=None``):
a Sentinel-1 pre-trained encoder (e.g. TorchGeo's SSL4EO-S12 S1 ResNets on the Hugging Face
Hub) is given as a local state-dict file or a pinned Hub reference fetched through the
plugin's weights store.

Usage::

    python -m rsai_toolbox.models.seaice.train --data ai4arctic_ready_to_train --out runs/ice \\
        --holdout 20190406T102029_S1B_AI4Arctic.nc --steps 20000 --patch 256

writes ``model.onnx`` (inputs ``sar`` N x 2 x H x W normalised HH/HV dB and, unless
``--no-angle``, ``angle`` N x 1 x H x W normalised incidence angle; outputs ``SIC``, ``SOD``,
``FLOE`` class scores N x K x H x W; H and W multiples of 32), its card ``model.json`` (also
embedded in the ONNX as ``rsai_card``), ``model.safetensors`` (for fine-tuning),
``metrics.json`` and the held-out AutoICE scores as ``heldout_scores.html`` / ``.csv``. No
fine-tuned weights are published for this architecture; publish yours with a pinned revision
and sha256 as described in models/farmland/train.py before adding a card to models/cards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..hub import WeightsSource, WeightsStore, sha256_file
from ..runtime.onnx_export import export_onnx as export
from . import report
from .metrics import WEIGHTS, ConfusionAccumulator, combine
from .sar import AI4ARCTIC_PIXEL_M, AI4ARCTIC_STATS
from .scheme import CHARTS, MASKED

SAR_VARIABLES = {"HH": "nersc_sar_primary", "HV": "nersc_sar_secondary"}
ANGLE_VARIABLE = "sar_incidenceangle"
TARGETS = ("SIC", "SOD", "FLOE")
CITATION = ("Buus-Hinkler, J. et al. (2022). AI4Arctic Sea Ice Challenge Dataset. DTU. "
            "https://doi.org/10.11583/DTU.21316608; Stokholm, A. et al. (2024). The AutoICE "
            "challenge. The Cryosphere 18, 3471-3494. https://doi.org/10.5194/tc-18-3471-2024")


# -- data ---------------------------------------------------------------------------------------
def find_scenes(folder: str | Path) -> list[Path]:
    scenes = sorted(Path(folder).glob("*.nc"))
    if not scenes:
        raise UserError(f"{folder} holds no .nc scenes (AI4Arctic ready-to-train layout: one "
                        "netCDF file per scene).")
    return scenes


@dataclass(frozen=True)
class Scene:
    path: Path
    rows: int
    cols: int


def open_scene(path: str | Path, use_angle: bool = True) -> Scene:
    """Check a scene has every variable on one grid; UserError names what is missing."""
    import h5netcdf

    path = Path(path)
    needed = [*SAR_VARIABLES.values(), *([ANGLE_VARIABLE] if use_angle else []), *TARGETS]
    try:
        with h5netcdf.File(path, "r") as nc:
            missing = [v for v in needed if v not in nc.variables]
            if missing:
                raise UserError(f"{path.name} lacks the variable(s) {', '.join(missing)} of the "
                                "AI4Arctic ready-to-train layout" + (
                                    "; train with --no-angle to do without the incidence angle"
                                    if missing == [ANGLE_VARIABLE] else ""))
            shapes = {v: nc.variables[v].shape for v in needed}
    except OSError as exc:
        raise UserError(f"{path} is not a readable netCDF-4 file: {exc}") from exc
    if len(set(shapes.values())) != 1 or len(shapes[needed[0]]) != 2:
        raise UserError(f"{path.name}: the variables do not share one 2-D grid: {shapes}")
    rows, cols = shapes[needed[0]]
    return Scene(path, rows, cols)


def read_inputs(scene: Scene, row: int, col: int, height: int, width: int,
                use_angle: bool = True) -> tuple[dict, np.ndarray]:
    """Normalised inputs {"sar": (2,h,w), "angle": (1,h,w)} of a window and where they are
    valid; outside the scene and where the SAR has no value the inputs are 0 (the mean).
    Only the window is read from the file."""
    import h5netcdf

    in_file, inside = _inside(scene, row, col, height, width)
    valid = np.zeros((height, width), bool)
    valid[inside] = True
    sar = np.zeros((len(SAR_VARIABLES), height, width), np.float32)
    inputs = {"sar": sar}
    with h5netcdf.File(scene.path, "r") as nc:
        for i, (band, variable) in enumerate(SAR_VARIABLES.items()):
            values = np.asarray(nc.variables[variable][in_file], np.float32)
            mean, std = AI4ARCTIC_STATS[band]
            sar[i][inside] = (values - mean) / std
            valid[inside] &= np.isfinite(values)
        if use_angle:
            angle = np.zeros((1, height, width), np.float32)
            values = np.asarray(nc.variables[ANGLE_VARIABLE][in_file], np.float32)
            mean, std = AI4ARCTIC_STATS["incidence_angle"]
            angle[0][inside] = (values - mean) / std
            valid[inside] &= np.isfinite(values)
            inputs["angle"] = angle
    for array in inputs.values():
        array[:, ~valid] = 0.0
    return inputs, valid


def read_targets(scene: Scene, row: int, col: int, height: int, width: int,
                 valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Chart codes {SIC, SOD, FLOE: (h,w) uint8} of a window; 255 outside the scene and where
    ``valid`` (the SAR) is False."""
    import h5netcdf

    in_file, inside = _inside(scene, row, col, height, width)
    targets = {}
    with h5netcdf.File(scene.path, "r") as nc:
        for name in TARGETS:
            target = np.full((height, width), MASKED, np.uint8)
            target[inside] = np.asarray(nc.variables[name][in_file], np.uint8)
            if valid is not None:
                target[~valid] = MASKED
            targets[name] = target
    return targets


def _inside(scene: Scene, row: int, col: int, height: int, width: int):
    """The window's part inside the scene: as file indices, and as window indices."""
    r0, c0 = max(row, 0), max(col, 0)
    r1, c1 = min(row + height, scene.rows), min(col + width, scene.cols)
    return np.s_[r0:r1, c0:c1], np.s_[r0 - row:r1 - row, c0 - col:c1 - col]


def _random_batch(scenes, batch_size, patch, rng, use_angle, tries: int = 10):
    """Random patches from random scenes, preferring patches with some labelled pixels."""
    inputs, targets = {}, {name: [] for name in TARGETS}
    for _ in range(batch_size):
        for _ in range(tries):
            scene = scenes[rng.integers(len(scenes))]
            row = int(rng.integers(0, max(scene.rows - patch, 0) + 1))
            col = int(rng.integers(0, max(scene.cols - patch, 0) + 1))
            x, valid = read_inputs(scene, row, col, patch, patch, use_angle)
            y = read_targets(scene, row, col, patch, patch, valid)
            if (y["SOD"] != MASKED).any():
                break
        for key, value in x.items():
            inputs.setdefault(key, []).append(value)
        for key, value in y.items():
            targets[key].append(value)
    return ({k: np.stack(v) for k, v in inputs.items()},
            {k: np.stack(v).astype(np.int64) for k, v in targets.items()})


# -- network ------------------------------------------------------------------------------------
def build_model(encoder: str = "resnet18", use_angle: bool = True):
    """smp U-Net body, three heads (SIC 11, SOD 6, FLOE 7 class scores); forward(sar, angle)."""
    import segmentation_models_pytorch as smp
    import torch
    from torch import nn

    sizes = [len(CHARTS[name]) for name in TARGETS]

    class MultiTaskUnet(nn.Module):
        def __init__(self):
            super().__init__()
            self.use_angle = use_angle
            # one 1x1 convolution with 11 + 6 + 7 outputs = three 1x1 heads on the decoder
            self.unet = smp.Unet(encoder_name=encoder, encoder_weights=None,
                                 in_channels=len(SAR_VARIABLES) + int(use_angle),
                                 classes=sum(sizes))

        def forward(self, sar, angle=None):
            x = torch.cat([sar, angle], dim=1) if self.use_angle else sar
            return tuple(torch.split(self.unet(x), sizes, dim=1))

    return MultiTaskUnet()


_WRAPPERS = ("module.", "model.", "backbone.", "encoder.", "_orig_mod.")
_CLASSIFIER = ("fc.", "head.", "classifier.", "linear.")


def load_encoder_weights(model, source: str | Path, store: WeightsStore | None = None) -> int:
    """Load a pre-trained encoder state dict (a local .safetensors/.pth file, or a pinned Hub
    reference ``owner/repo@<commit>:file`` fetched through ``store``) into the U-Net encoder.

    Wrapper prefixes and the classifier are dropped; a first convolution with fewer input
    channels (e.g. a 2-channel Sentinel-1 VV/VH encoder) gets the mean of its kernels for the
    extra channels. Returns the number of tensors loaded; refuses a state dict that fits less
    than 90 % of the encoder (another architecture)."""
    import torch

    text = str(source)
    if "@" in text and ":" in text and not Path(text).exists():
        if store is None:
            raise UserError("a Hub reference for the encoder needs a weights cache folder")
        path = store.fetch(WeightsSource.parse_hub_reference(text))
    else:
        path = Path(text)
        if not path.is_file():
            raise UserError(f"encoder weights file {path} does not exist.")
    state = _read_state_dict(path)
    encoder = model.unet.encoder
    own = encoder.state_dict()
    state = {_strip(k): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER)}
    loadable = {}
    for key, value in state.items():
        if key not in own:
            continue
        target = own[key]
        if value.shape != target.shape and value.ndim == 4 and value.shape[0] == target.shape[0] \
                and value.shape[2:] == target.shape[2:] and value.shape[1] < target.shape[1]:
            extra = value.mean(dim=1, keepdim=True).expand(-1, target.shape[1] - value.shape[1],
                                                           -1, -1)
            value = torch.cat([value, extra], dim=1)
        if value.shape == target.shape:
            loadable[key] = value.to(target.dtype)
    if len(loadable) < 0.9 * len(own):
        raise UserError(f"{path} fits only {len(loadable)} of the {len(own)} tensors of the "
                        f"{type(encoder).__name__} encoder: choose weights of the same "
                        "encoder architecture (e.g. a ResNet-18 file for --encoder resnet18).")
    encoder.load_state_dict(loadable, strict=False)
    return len(loadable)


def _read_state_dict(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors: not a plain state dict
        raise UserError(f"{path} is not a plain state dict (refused to unpickle other "
                        f"objects): {exc}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise UserError(f"{path} does not hold a state dict of tensors")
    return obj


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPERS:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


# -- evaluation ---------------------------------------------------------------------------------
def predict_scene(model, scene: Scene, tile: int = 512, use_angle: bool = True,
                  device: str = "cpu") -> dict[str, np.ndarray]:
    """Class maps {SIC, SOD, FLOE: (rows, cols) uint8} of a whole scene, tile by tile."""
    import torch

    if tile % 32:
        raise UserError(f"the evaluation tile must be a multiple of 32, not {tile}")
    out = {name: np.full((scene.rows, scene.cols), MASKED, np.uint8) for name in TARGETS}
    model.eval()
    with torch.inference_mode():
        for row in range(0, scene.rows, tile):
            for col in range(0, scene.cols, tile):
                x, valid = read_inputs(scene, row, col, tile, tile, use_angle)
                outputs = model(*[torch.from_numpy(x[k][None]).to(device) for k in x])
                h, w = min(tile, scene.rows - row), min(tile, scene.cols - col)
                for name, scores in zip(TARGETS, outputs):
                    labels = scores[0].argmax(0).cpu().numpy().astype(np.uint8)
                    labels[~valid] = MASKED  # no SAR: no prediction
                    out[name][row:row + h, col:col + w] = labels[:h, :w]
    return out


def evaluate(model, scenes: list[Scene], tile: int = 512, use_angle: bool = True,
             device: str = "cpu"):
    """AutoICE scores over all pixels of ``scenes`` together (as the challenge scores them)."""
    import h5netcdf

    accumulators = {name: ConfusionAccumulator(name) for name in TARGETS}
    for scene in scenes:
        predicted = predict_scene(model, scene, tile, use_angle, device)
        with h5netcdf.File(scene.path, "r") as nc:
            for name in TARGETS:
                accumulators[name].update(np.asarray(nc.variables[name][:], np.uint8),
                                          predicted[name])
    return combine({name: acc.scores() for name, acc in accumulators.items()})


# -- export -------------------------------------------------------------------------------------
def export_onnx(model, path: Path, use_angle: bool, size: int = 64,
                card: dict | None = None) -> Path:
    """ONNX with inputs sar (+ angle), outputs SIC, SOD, FLOE; dynamic batch, rows, cols."""
    import torch

    names = ["sar", "angle"] if use_angle else ["sar"]
    inputs = {n: torch.zeros(1, 2 if n == "sar" else 1, size, size) for n in names}
    return export(model, inputs, path, list(TARGETS), card)


def model_card(model_id: str, encoder: str, use_angle: bool, tile: int, licence: str,
               scores: dict | None) -> dict:
    def classes(name):
        return [{"value": c.value, "name": c.name, "color": c.color} for c in CHARTS[name]]

    inputs = [{"name": "sar", "bands": list(SAR_VARIABLES), "transform": "db",
               "mean": [AI4ARCTIC_STATS[b][0] for b in SAR_VARIABLES],
               "std": [AI4ARCTIC_STATS[b][1] for b in SAR_VARIABLES],
               "resolution_m": AI4ARCTIC_PIXEL_M, "pad": "reflect", "optional": False}]
    if use_angle:
        inputs.append({"name": "angle", "bands": ["incidence_angle"], "transform": "linear",
                       "mean": [AI4ARCTIC_STATS["incidence_angle"][0]],
                       "std": [AI4ARCTIC_STATS["incidence_angle"][1]], "ratio": 1,
                       "resampling": "bilinear", "pad": "edge", "optional": False})
    return {
        "id": model_id,
        "title": f"Sea-ice multi-task U-Net ({encoder}): SOD, SIC, FLOE from Sentinel-1",
        "description": (
            "Trained with models/seaice/train.py on AI4Arctic ready-to-train scenes (80 m). "
            "Inputs: HH and HV sigma0 in dB after NERSC noise correction, normalised with the "
            "data set's statistics" + (", and the incidence angle in degrees" if use_angle
                                        else "") + ". Three outputs, class scores: SOD (stage "
            "of development, the primary map), SIC (tenths) and FLOE. Held-out AutoICE scores "
            "under 'metrics'."),
        "task": "segmentation",
        "format": "onnx",
        "inputs": inputs,
        "tiling": {"tile_size": tile, "overlap": tile // 8, "blend": "linear"},
        "head": {"type": "dense"},
        # SOD first: the primary map (OUTPUT of rsai:sea_ice_types); SIC and FLOE follow.
        "outputs": [{"name": name, "classes": classes(name), "activation": "softmax"}
                    for name in ("SOD", "SIC", "FLOE")],
        "method": {"heldout_scores": scores, "input_units": "dB"},
        "licence": licence,
        "citation": CITATION,
    }


# -- training -----------------------------------------------------------------------------------
def train(train_files, holdout_files, out_dir, steps: int = 1000, batch_size: int = 8,
          patch: int = 256, lr: float = 1e-3, encoder: str = "resnet18",
          encoder_weights: str | None = None, weights_cache: str | None = None,
          use_angle: bool = True, eval_tile: int = 512, seed: int = 0, device: str = "cpu",
          model_id: str | None = None, licence: str = "unknown",
          progress: Callable[[float], None] = no_progress,
          is_cancelled: Callable[[], bool] = never_cancelled) -> dict:
    """Train for ``steps`` batches of random patches, score the held-out scenes, export ONNX,
    card, weights and reports to ``out_dir``; returns the metrics (also in metrics.json)."""
    import torch
    from safetensors.torch import save_file

    if patch % 32 or eval_tile % 32:
        raise UserError(f"patch ({patch}) and evaluation tile ({eval_tile}) must be multiples "
                        "of 32 (the U-Net halves them five times)")
    if steps < 1 or batch_size < 1:
        raise UserError("train for at least one step of at least one patch")
    if batch_size * (patch // 32) ** 2 < 2:
        raise UserError("one patch of 32 px leaves a single value per channel at the U-Net's "
                        "bottom, which batch normalisation cannot train on: use a larger "
                        "patch or batch")
    train_scenes = [open_scene(p, use_angle) for p in train_files]
    holdout_scenes = [open_scene(p, use_angle) for p in holdout_files]
    if not train_scenes or not holdout_scenes:
        raise UserError("give at least one training scene and one held-out scene")
    overlap = {s.path.resolve() for s in train_scenes} & {s.path.resolve() for s in holdout_scenes}
    if overlap:
        raise UserError(f"held-out scene(s) {', '.join(p.name for p in overlap)} are also in "
                        "the training set: scores would not measure generalisation.")

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(encoder, use_angle)
    loaded = None
    if encoder_weights:
        store = WeightsStore(weights_cache) if weights_cache else None
        loaded = load_encoder_weights(model, encoder_weights, store)
    model = model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=MASKED)
    history = []
    for step in range(steps):
        if is_cancelled():
            raise Cancelled("training cancelled")
        x, y = _random_batch(train_scenes, batch_size, patch, rng, use_angle)
        model.train()
        optimiser.zero_grad()
        outputs = model(*[torch.from_numpy(x[k]).to(device) for k in x])
        losses = {}
        for name, scores in zip(TARGETS, outputs):
            target = torch.from_numpy(y[name]).to(device)
            # a batch without any label of a chart contributes nothing (not NaN)
            losses[name] = (loss_fn(scores, target) if (target != MASKED).any()
                            else scores.sum() * 0.0)
        loss = sum(WEIGHTS[n] * losses[n] for n in TARGETS) / sum(WEIGHTS.values())
        loss.backward()
        optimiser.step()
        history.append({"step": step + 1, "loss": float(loss.detach()),
                        **{n: float(v.detach()) for n, v in losses.items()}})
        progress(0.85 * (step + 1) / steps)

    scores = evaluate(model, holdout_scenes, eval_tile, use_angle, device)
    summary = scores.summary()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / "model.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(weights_path))
    card = model_card(model_id or f"seaice-unet-{encoder}", encoder, use_angle, patch, licence,
                      summary)
    onnx_path = export_onnx(model, out_dir / "model.onnx", use_angle, card=card)
    card["local_weights"] = onnx_path.name  # the card beside its ONNX runs as a user card
    card["method"]["files"] = {"onnx": onnx_path.name, "sha256": sha256_file(onnx_path),
                               "state_dict": weights_path.name}
    card_path = out_dir / "model.json"
    card_path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    notes = [f"held-out scene(s): {', '.join(s.path.name for s in holdout_scenes)}",
             f"{steps} steps of {batch_size} patches of {patch} px; encoder {encoder}"
             + (f" ({loaded} pre-trained tensors from {encoder_weights})" if loaded else "")]
    report.write_csv(scores, out_dir / "heldout_scores.csv")
    report.write_html(scores, out_dir / "heldout_scores.html",
                      title="Sea-ice U-Net: AutoICE scores on held-out scenes", notes=notes)
    metrics = {"heldout": summary, "history": history, "encoder_tensors_loaded": loaded,
               "scenes": {"train": [s.path.name for s in train_scenes],
                          "heldout": [s.path.name for s in holdout_scenes]},
               "onnx": str(onnx_path), "card": str(card_path), "state_dict": str(weights_path)}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    progress(1.0)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rsai_toolbox.models.seaice.train",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of AI4Arctic ready-to-train .nc")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--holdout", nargs="+", default=None,
                        help="file names in --data kept out of training and scored "
                             "(default: the last scene by name)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--encoder", default="resnet18", help="any smp encoder name")
    parser.add_argument("--encoder-weights", default=None,
                        help="pre-trained encoder: a local .safetensors/.pth state dict or a "
                             "pinned Hub reference owner/repo@<commit>:file (never downloaded "
                             "by smp)")
    parser.add_argument("--weights-cache", default=os.environ.get("RSAI_WEIGHTS_CACHE"),
                        help="weights store folder for Hub references (env RSAI_WEIGHTS_CACHE)")
    parser.add_argument("--no-angle", action="store_true", help="train on HH and HV only")
    parser.add_argument("--eval-tile", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model-id", default=None)
    parser.add_argument("--licence", default="unknown",
                        help="licence of your weights (mind the AI4Arctic data licence)")
    args = parser.parse_args(argv)
    try:
        scenes = find_scenes(args.data)
        names = args.holdout or [scenes[-1].name]
        holdout = [Path(args.data) / n for n in names]
        missing = [p.name for p in holdout if not p.is_file()]
        if missing:
            raise UserError(f"held-out scene(s) not found in {args.data}: {', '.join(missing)}")
        training = [s for s in scenes if s.name not in names]
        metrics = train(training, holdout, args.out, steps=args.steps,
                        batch_size=args.batch_size, patch=args.patch, lr=args.lr,
                        encoder=args.encoder, encoder_weights=args.encoder_weights,
                        weights_cache=args.weights_cache, use_angle=not args.no_angle,
                        eval_tile=args.eval_tile, seed=args.seed, device=args.device,
                        model_id=args.model_id, licence=args.licence,
                        progress=lambda f: print(f"progress {f:.0%}", file=sys.stderr))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: metrics[k] for k in ("heldout", "onnx", "card")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train a label-only binary farmland U-Net on FarmSeg-VL-style tiles and export ONNX + card.

FarmSeg-VL (Tao et al., ESSD 2025; dataset DOI 10.5281/zenodo.15099885) ships
``train/``, ``val/``, ``test/``, each with ``img/*.png`` (RGB), ``lbl/*.png`` (farmland mask,
0/1 or 0/255) and ``json/*.json`` (captions; counted, not used: this network learns from the
labels only). Images and labels are paired by file stem.

Usage::

    python -m rsai_toolbox.models.farmland.train --data FarmSeg-VL --out runs/farmland --epochs 30

writes ``model.onnx`` (input ``image`` float32 N x 3 x H x W, H and W multiples of 32, output
``logits`` N x 2 x H x W; dynamic batch/height/width), its model card ``model.json`` (the name
the plugin looks for beside an ONNX file; the card is also embedded in the ONNX metadata as
``rsai_card``), ``model.pth`` (state dict, for fine-tuning) and ``metrics.json``. Model input is
``(RGB / 255 - mean) / std`` with ImageNet mean/std, as recorded in the card. The local card has
no ``weights`` source (the file beside it is used); ``files`` records the ONNX name and sha256.

Publishing on the Hugging Face Hub (needs ``pip install huggingface_hub`` and a write token)::

    huggingface-cli login
    huggingface-cli upload YOUR_USER/farmland-unet runs/farmland . --repo-type model
    # or, in Python:
    #   from huggingface_hub import HfApi
    #   HfApi().upload_folder(folder_path="runs/farmland", repo_id="YOUR_USER/farmland-unet")

then pin what you published: add to ``model.json``
``"weights": {"repo_id": "YOUR_USER/farmland-unet", "revision": "<40-hex commit id the upload
printed; never a branch name>", "filename": "model.onnx", "sha256": "<files.sha256>"}`` and
upload the card again, so the plugin downloads exactly that file and verifies its checksum.
Set ``--licence`` to what the training data and your weights allow.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
import numpy as np

from ..callbacks import Callbacks, print_log
from ..errors import Cancelled, UserError
from ..runtime.onnx_export import export_onnx, write_trained_card
from ..runtime.raster import open_raster

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IGNORE = 255
CLASSES = [{"value": 0, "name": "background", "color": "#000000"},
           {"value": 1, "name": "farmland", "color": "#f2c12e"}]
CITATION = ("Tao et al. (2025). FarmSeg-VL: farmland image-text segmentation dataset. Earth "
            "System Science Data. Dataset: https://doi.org/10.5281/zenodo.15099885")


def find_pairs(split_dir: Path) -> list[tuple[Path, Path]]:
    """(image, label) PNG pairs of one split, matched by stem; UserError when none match."""
    images = {p.stem: p for p in sorted((split_dir / "img").glob("*.png"))}
    labels = {p.stem: p for p in sorted((split_dir / "lbl").glob("*.png"))}
    pairs = [(images[k], labels[k]) for k in sorted(images.keys() & labels.keys())]
    if not pairs:
        raise UserError(f"{split_dir} has no img/*.png with a matching lbl/*.png (FarmSeg-VL "
                        "layout: <split>/img, <split>/lbl, <split>/json)")
    return pairs


def read_rgb(path: Path) -> np.ndarray:
    """(3,H,W) uint8 from a PNG (grey is repeated, alpha dropped)."""
    data = open_raster(path, "image").ReadAsArray()
    if data.ndim == 2:
        data = np.repeat(data[None], 3, axis=0)
    elif data.shape[0] in (2, 4):
        data = data[:-1] if data.shape[0] == 4 else np.repeat(data[:1], 3, axis=0)
    return np.ascontiguousarray(data[:3]).astype(np.uint8)


def read_label(path: Path) -> np.ndarray:
    """(H,W) uint8 in {0, 1}: values > 0 are farmland (> 127 when the mask is stored 0/255)."""
    data = open_raster(path, "label").ReadAsArray()
    if data.ndim == 3:
        data = data.max(axis=0)
    threshold = 127 if data.max(initial=0) > 1 else 0
    return (data > threshold).astype(np.uint8)


def normalise(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    return (x - np.asarray(MEAN, np.float32)[:, None, None]) / np.asarray(STD, np.float32)[:, None, None]


def _pad32(array: np.ndarray, value) -> np.ndarray:
    h, w = array.shape[-2:]
    ph, pw = (-h) % 32, (-w) % 32
    if not ph and not pw:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(array, pad, constant_values=value)


def build_model(encoder: str = "resnet18", encoder_weights: str | None = None):
    import segmentation_models_pytorch as smp

    return smp.Unet(encoder_name=encoder, encoder_weights=encoder_weights, in_channels=3, classes=2)


def _batches(pairs, batch_size, tile_size, rng, train: bool):
    """Yield (x, y) numpy batches; training crops random tiles and flips."""
    order = rng.permutation(len(pairs)) if train else np.arange(len(pairs))
    for start in range(0, len(order), batch_size):
        xs, ys = [], []
        for index in order[start:start + batch_size]:
            img_path, lbl_path = pairs[index]
            x = _pad32(normalise(read_rgb(img_path)), 0.0)
            y = _pad32(read_label(lbl_path), IGNORE)
            if x.shape[1:] != y.shape:
                raise UserError(f"{img_path.name} and {lbl_path.name} differ in size")
            if train:
                h, w = y.shape
                th, tw = min(tile_size, h), min(tile_size, w)
                r0, c0 = rng.integers(0, h - th + 1), rng.integers(0, w - tw + 1)
                x, y = x[:, r0:r0 + th, c0:c0 + tw], y[r0:r0 + th, c0:c0 + tw]
                if rng.random() < 0.5:
                    x, y = x[:, :, ::-1], y[:, ::-1]
                if rng.random() < 0.5:
                    x, y = x[:, ::-1], y[::-1]
            xs.append(np.ascontiguousarray(x))
            ys.append(np.ascontiguousarray(y))
        if train or len({a.shape for a in xs}) == 1:
            yield np.stack(xs), np.stack(ys).astype(np.int64)
        else:  # evaluation images of different sizes go one at a time
            for x, y in zip(xs, ys):
                yield x[None], y[None].astype(np.int64)


def evaluate(model, pairs, batch_size: int = 4, device: str = "cpu") -> dict:
    """Farmland IoU, F1 and pixel accuracy over all labelled pixels of ``pairs``.

    IoU/F1 are 1.0 when neither label nor prediction contains farmland.
    """
    import torch

    tp = fp = fn = tn = 0
    model.eval()
    with torch.no_grad():
        for x, y in _batches(pairs, batch_size, 0, np.random.default_rng(0), train=False):
            pred = model(torch.from_numpy(x).to(device)).argmax(1).cpu().numpy()
            valid = y != IGNORE
            p, t = pred[valid] == 1, y[valid] == 1
            tp += int(np.sum(p & t))
            fp += int(np.sum(p & ~t))
            fn += int(np.sum(~p & t))
            tn += int(np.sum(~p & ~t))
    union = tp + fp + fn
    return {"iou": tp / union if union else 1.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
            "accuracy": (tp + tn) / max(tp + fp + fn + tn, 1),
            "pixels": tp + fp + fn + tn}


def train(data_dir, out_dir, epochs: int = 20, encoder: str = "resnet18",
          encoder_weights: str | None = None, batch_size: int = 8, lr: float = 1e-3,
          tile_size: int = 256, seed: int = 0, device: str = "cpu",
          model_id: str | None = None, licence: str = "unknown",
          callbacks: Callbacks = Callbacks()) -> dict:
    """Train, pick the epoch with the best validation IoU, evaluate val/test, export ONNX + card.

    Returns the metrics dict also written to ``out_dir/metrics.json``.
    """
    import torch

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if tile_size % 32:
        raise UserError(f"tile size must be a multiple of 32, not {tile_size}")
    if epochs < 1:
        raise UserError("train for at least one epoch")
    train_pairs = find_pairs(data_dir / "train")
    val_pairs = find_pairs(data_dir / "val") if (data_dir / "val").is_dir() else []
    test_pairs = find_pairs(data_dir / "test") if (data_dir / "test").is_dir() else []
    captions = sum(len(list((data_dir / s / "json").glob("*.json"))) for s in ("train", "val", "test"))

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(encoder, encoder_weights).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    history, best, best_state = [], None, None
    for epoch in range(epochs):
        model.train()
        losses = []
        for x, y in _batches(train_pairs, batch_size, tile_size, rng, train=True):
            if callbacks.is_cancelled():
                raise Cancelled("training cancelled")
            optimiser.zero_grad()
            loss = loss_fn(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        val = evaluate(model, val_pairs, batch_size, device) if val_pairs else None
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "val_iou": val["iou"] if val else None})
        score = val["iou"] if val else -float(np.mean(losses))
        if best is None or score > best[1]:
            best = (epoch + 1, score)
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        callbacks.progress(0.9 * (epoch + 1) / epochs)

    model.load_state_dict(best_state)
    metrics = {"val": evaluate(model, val_pairs, batch_size, device) if val_pairs else None,
               "test": evaluate(model, test_pairs, batch_size, device) if test_pairs else None,
               "best_epoch": best[0], "history": history,
               "images": {"train": len(train_pairs), "val": len(val_pairs), "test": len(test_pairs)},
               "captions_found": captions}

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, pth_path = out_dir / "model.onnx", out_dir / "model.pth"
    torch.save(best_state, pth_path)
    card = {
        "id": model_id or f"farmland-unet-{encoder}",
        "title": f"Farmland U-Net ({encoder}), trained on FarmSeg-VL-style tiles",
        "task": "segmentation",
        "format": "onnx",
        "architecture": {"name": "smp.Unet", "kwargs": {"encoder_name": encoder,
                                                         "in_channels": 3, "classes": 2}},
        "inputs": [{"name": "image", "bands": ["R", "G", "B"], "scale": 255.0,
                    "mean": list(MEAN), "std": list(STD)}],
        "tiling": {"tile_size": tile_size, "overlap": tile_size // 8},
        "outputs": {"classes": CLASSES},
        "licence": licence,
        "citation": CITATION,
        "description": "Binary farmland segmentation (label-only training); metrics: IoU/F1 of "
                       "the farmland class on the val and test splits.",
        "metrics": {k: metrics[k] for k in ("val", "test")},
    }
    export_onnx(model, {"image": torch.zeros(1, 3, tile_size, tile_size)}, onnx_path,
                ["logits"], card)
    metrics = write_trained_card(card, onnx_path, pth_path, metrics, out_dir)
    callbacks.progress(1.0)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rsai_toolbox.models.farmland.train",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with train/ val/ test/")
    parser.add_argument("--out", required=True, help="output folder for model.onnx and card")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--encoder", default="resnet18", help="any smp encoder name")
    parser.add_argument("--encoder-weights", default=None,
                        help="e.g. imagenet (downloads); default: none (random init)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--tile-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model-id", default=None)
    parser.add_argument("--licence", default="unknown")
    args = parser.parse_args(argv)
    try:
        metrics = train(args.data, args.out, epochs=args.epochs, encoder=args.encoder,
                        encoder_weights=args.encoder_weights, batch_size=args.batch_size,
                        lr=args.lr, tile_size=args.tile_size, seed=args.seed, device=args.device,
                        model_id=args.model_id, licence=args.licence,
                        callbacks=Callbacks(progress=lambda f: print_log(f"progress {f:.0%}")))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: metrics[k] for k in ("val", "test", "best_epoch", "onnx", "card")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

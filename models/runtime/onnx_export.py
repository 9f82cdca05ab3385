"""Export a torch network to ONNX once, the same way for every method: named inputs, dynamic
batch (and image size where the network allows it), the card embedded as ``rsai_card``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence


def export_onnx(module, inputs: Mapping[str, object], path: str | Path,
                output_names: Sequence[str] = ("output",), card: dict | None = None,
                dynamic_size: bool = True, opset: int = 17) -> Path:
    """``inputs``: example tensors by input name (the card's input names). The batch axis is
    always dynamic; with ``dynamic_size`` the height and width of 4-D tensors are too."""
    import torch

    module = module.cpu().eval()
    with torch.no_grad():
        results = module(*inputs.values())
    results = results if isinstance(results, (tuple, list)) else [results]
    axes = {}
    for name, tensor in [*inputs.items(), *zip(output_names, results)]:
        axes[name] = {0: "batch"}
        if dynamic_size and tensor.dim() == 4:
            axes[name].update({2: f"{name}_height", 3: f"{name}_width"})
    path = Path(path)
    torch.onnx.export(module, tuple(inputs.values()), str(path), input_names=list(inputs),
                      output_names=list(output_names), dynamic_axes=axes, opset_version=opset,
                      dynamo=False)
    if card is not None:
        embed_card(path, card)
    return path


def embed_card(path: str | Path, card: dict) -> None:
    """Put the card into the ONNX file's metadata, so the file describes itself."""
    import onnx

    proto = onnx.load(str(path))
    for entry in list(proto.metadata_props):
        if entry.key == "rsai_card":
            proto.metadata_props.remove(entry)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "rsai_card", json.dumps(card)
    onnx.save(proto, str(path))


def write_trained_card(card: dict, onnx_path: Path, state_dict_path: Path, metrics: dict,
                       out_dir: Path) -> dict:
    """What a trainer leaves beside its ONNX model: the card (naming the files, with the ONNX
    file's sha256) as ``<model>.json`` and ``metrics.json``, both written whole. Returns the
    metrics with the three paths added."""
    from ..files import write_files
    from ..hub import sha256_file

    card["files"] = {"onnx": onnx_path.name, "sha256": sha256_file(onnx_path),
                     "state_dict": state_dict_path.name}
    card_path = onnx_path.with_suffix(".json")
    metrics = {**metrics, "onnx": str(onnx_path), "state_dict": str(state_dict_path),
               "card": str(card_path)}
    write_files({card_path: json.dumps(card, indent=2),
                 Path(out_dir) / "metrics.json": json.dumps(metrics, indent=2)})
    return metrics

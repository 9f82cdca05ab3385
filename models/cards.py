"""Model cards: everything needed to run a published model travels with it.

A card is a small JSON file (schema in docs/model_cards.md): where the weights live and their
checksum, the weights' format and architecture, what the inputs must look like (bands, scale,
mean/std, tile size, resolution) and what comes out (classes with names and colours, or
regression targets with units), plus licence and citation. An ONNX file without a card can carry
the same keys in its metadata_props; Deepness's keys are understood too, so its model-zoo files
run unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path

from .colours import class_colours
from .errors import UserError
from .hub import WeightsSource

# pansharpening cards describe two-input models (PAN + MS), run by rsai:pansharpen.
TASKS = ("segmentation", "regression", "pansharpening")
FORMATS = ("onnx", "safetensors", "torch_state_dict")



@dataclass(frozen=True)
class ClassInfo:
    value: int
    name: str
    color: str


@dataclass(frozen=True)
class TargetInfo:
    name: str
    unit: str = ""


@dataclass(frozen=True)
class InputSpec:
    """How raw raster values become model input: ``(raw / scale - mean) / std`` per band."""

    bands: tuple[str, ...]
    scale: float = 1.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    tile_size: int = 512
    overlap: int = 32
    resolution_m: float | None = None


@dataclass(frozen=True)
class ModelCard:
    id: str
    title: str
    task: str
    format: str
    inputs: InputSpec
    classes: tuple[ClassInfo, ...] = ()
    targets: tuple[TargetInfo, ...] = ()
    weights: WeightsSource | None = None
    local_weights: Path | None = None  # a local file always overrides ``weights`` (JSON key
    # "local_weights", relative to the card's folder or absolute: custom models of one machine)
    activation: str = "none"  # "softmax" turns class scores into probabilities
    architecture: str | None = None
    architecture_kwargs: dict = field(default_factory=dict)
    licence: str = "unknown"
    citation: str = ""
    description: str = ""

    @property
    def band_count(self) -> int:
        return len(self.inputs.bands)

    @property
    def output_count(self) -> int:
        """Channels the network emits: class scores, or one per regression target."""
        return len(self.classes) if self.task == "segmentation" else len(self.targets)

    def with_local_weights(self, path: str | Path) -> "ModelCard":
        return replace(self, local_weights=Path(path))


def card_from_dict(data: dict, origin: str = "card") -> ModelCard:
    """Build and validate a card; every problem names the key and the origin file."""
    try:
        task = data["task"]
        fmt = data["format"]
        inputs = data["inputs"]
        card = ModelCard(
            id=data["id"],
            title=data.get("title", data["id"]),
            task=task,
            format=fmt,
            inputs=InputSpec(
                bands=tuple(inputs["bands"]),
                scale=float(inputs.get("scale", 1.0)),
                mean=_floats(inputs.get("mean")),
                std=_floats(inputs.get("std")),
                tile_size=int(inputs.get("tile_size", 512)),
                overlap=int(inputs.get("overlap", 32)),
                resolution_m=inputs.get("resolution_m"),
            ),
            classes=_classes(data.get("outputs", {}).get("classes", [])),
            targets=tuple(TargetInfo(t["name"], t.get("unit", ""))
                          for t in data.get("outputs", {}).get("targets", [])),
            activation=data.get("outputs", {}).get(
                "activation", "softmax" if task == "segmentation" else "none"),
            weights=WeightsSource.from_dict(data["weights"]) if data.get("weights") else None,
            local_weights=Path(data["local_weights"]) if data.get("local_weights") else None,
            architecture=(data.get("architecture") or {}).get("name"),
            architecture_kwargs=dict((data.get("architecture") or {}).get("kwargs", {})),
            licence=data.get("licence", "unknown"),
            citation=data.get("citation", ""),
            description=data.get("description", ""),
        )
    except KeyError as missing:
        raise UserError(f"{origin}: required key {missing} is missing (see docs/model_cards.md)")
    if card.task not in TASKS:
        raise UserError(f"{origin}: task must be one of {TASKS}, not {card.task!r}")
    if card.format not in FORMATS:
        raise UserError(f"{origin}: format must be one of {FORMATS}, not {card.format!r}")
    if card.format != "onnx" and not card.architecture:
        raise UserError(f"{origin}: {card.format} weights need architecture.name")
    if card.activation not in ("softmax", "none"):
        raise UserError(f"{origin}: outputs.activation must be softmax or none")
    if card.task == "segmentation" and not card.classes:
        raise UserError(f"{origin}: a segmentation card needs outputs.classes")
    if card.task != "segmentation" and not card.targets:
        raise UserError(f"{origin}: a {card.task} card needs outputs.targets")
    for name, values in (("mean", card.inputs.mean), ("std", card.inputs.std)):
        if values is not None and len(values) not in (1, card.band_count):
            raise UserError(f"{origin}: inputs.{name} needs 1 or {card.band_count} values")
    return card


def load_card(path: str | Path) -> ModelCard:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"model card {path} is not valid JSON: {exc}")
    card = card_from_dict(data, origin=str(path))
    if card.local_weights is not None and not card.local_weights.is_absolute():
        card = card.with_local_weights(path.parent / card.local_weights)
    return card


def card_to_dict(card: ModelCard) -> dict:
    """The JSON form of a card (what card_from_dict reads back), e.g. for user cards."""
    inputs = {"bands": list(card.inputs.bands), "scale": card.inputs.scale,
              "tile_size": card.inputs.tile_size, "overlap": card.inputs.overlap}
    for key in ("mean", "std"):
        if getattr(card.inputs, key) is not None:
            inputs[key] = list(getattr(card.inputs, key))
    if card.inputs.resolution_m is not None:
        inputs["resolution_m"] = card.inputs.resolution_m
    outputs = {"activation": card.activation}
    if card.classes:
        outputs["classes"] = [{"value": c.value, "name": c.name, "color": c.color}
                              for c in card.classes]
    if card.targets:
        outputs["targets"] = [{"name": t.name, "unit": t.unit} for t in card.targets]
    data = {"id": card.id, "title": card.title, "task": card.task, "format": card.format,
            "inputs": inputs, "outputs": outputs, "licence": card.licence,
            "citation": card.citation, "description": card.description}
    if card.weights is not None:
        data["weights"] = {f.name: getattr(card.weights, f.name)
                           for f in dataclass_fields(card.weights)
                           if getattr(card.weights, f.name) is not None}
    if card.local_weights is not None:
        data["local_weights"] = str(card.local_weights)
    if card.architecture:
        data["architecture"] = {"name": card.architecture, "kwargs": card.architecture_kwargs}
    return data


def card_from_onnx_metadata(onnx_path: str | Path, metadata: dict[str, str],
                            input_channels: int, output_channels: int | None) -> ModelCard:
    """A card for a bare ONNX file, from its metadata_props (our keys, else Deepness's).

    Our key ``rsai_card`` holds a whole card as JSON. Otherwise Deepness's keys are read:
    model_type, class_names, resolution (cm/px), tiles_size, tiles_overlap (percent),
    standardization_mean/std (applied after dividing by 255, as Deepness does).
    """
    onnx_path = Path(onnx_path)
    if "rsai_card" in metadata:
        card = card_from_dict(json.loads(metadata["rsai_card"]), origin=f"{onnx_path} metadata")
        return card.with_local_weights(onnx_path)

    model_type = metadata.get("model_type", "Segmentor").strip('"').lower()
    task = "regression" if model_type.startswith("regress") else "segmentation"
    names = _json_or_none(metadata.get("class_names"))
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names, key=int)]
    n_out = output_channels or (len(names) if names else 1)
    if not names:
        names = [f"class {i}" for i in range(n_out)] if task == "segmentation" else [
            f"output {i}" for i in range(n_out)]
    tile = int(_json_or_none(metadata.get("tiles_size")) or 512)
    overlap_pct = float(_json_or_none(metadata.get("tiles_overlap")) or 10)
    resolution_cm = _json_or_none(metadata.get("resolution"))
    is_deepness = any(k in metadata for k in ("model_type", "class_names", "tiles_size"))
    data = {
        "id": onnx_path.stem,
        "title": onnx_path.name,
        "task": task,
        "format": "onnx",
        "inputs": {
            "bands": [f"band {i + 1}" for i in range(input_channels)],
            "scale": 255.0 if is_deepness else 1.0,
            "mean": _json_or_none(metadata.get("standardization_mean")),
            "std": _json_or_none(metadata.get("standardization_std")),
            "tile_size": tile,
            "overlap": int(tile * overlap_pct / 100),
            "resolution_m": float(resolution_cm) / 100 if resolution_cm else None,
        },
        "outputs": ({"classes": [{"value": i, "name": n} for i, n in enumerate(names)],
                     # Deepness segmentors end in a softmax already.
                     "activation": "none" if is_deepness else "softmax"}
                    if task == "segmentation" else {"targets": [{"name": n} for n in names]}),
        "licence": metadata.get("licence", "unknown (bare ONNX file)"),
        "citation": metadata.get("citation", ""),
    }
    return card_from_dict(data, origin=str(onnx_path)).with_local_weights(onnx_path)


def _classes(entries: list[dict]) -> tuple[ClassInfo, ...]:
    """Classes from a card; a class without a colour gets a default one (models/colours.py)."""
    defaults = class_colours([c["name"] for c in entries])
    return tuple(ClassInfo(int(c["value"]), c["name"], c.get("color") or default)
                 for c, default in zip(entries, defaults))


def _floats(values) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


def _json_or_none(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text

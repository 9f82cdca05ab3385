"""Model cards: everything needed to run a published model travels with it.

A card is a small JSON file (schema and one example per head in docs/model_cards.md): where the
weights live and their checksum, the weights' format and architecture, the model's named inputs
(each raster's bands, value transform and pixel size relative to the first input's grid), how
the engine tiles the first input's grid, the output head (dense, patch or pixel table) and what
comes out (classes with names and colours, or targets with units), plus licence and citation.
An ONNX file without a card can carry the same object in its metadata (``rsai_card``);
Deepness's keys are understood too, so its model-zoo files run unchanged.

A card is validated once, fully, when it is read: every problem names the file and the key.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from .colours import class_colours
from .errors import UserError
from .hub import WeightsSource

# What each task means is up to the tools that run it (a tool names the tasks it accepts).
TASKS = ("segmentation", "regression", "pansharpening", "prompt_segmentation", "embedding")
FORMATS = ("onnx", "safetensors", "torch_state_dict", "keras_hdf5")
TRANSFORMS = ("linear", "db")
RESAMPLING = ("nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average")
PADDING = ("reflect", "edge", "nan")
HEADS = ("dense", "patch", "pixel_table")
BLENDS = ("linear", "crop")
EDGES = ("pad", "clip")
FEEDS = ("named", "stacked")
ACTIVATIONS = ("softmax", "none")
MAX_CLASS_VALUE = 254  # 255 is the class rasters' nodata
DEFAULT_INPUT = "input"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassInfo:
    value: int
    name: str
    color: str


@dataclass(frozen=True)
class TargetInfo:
    name: str
    unit: str = ""

    @property
    def band_name(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name


@dataclass(frozen=True)
class InputSpec:
    """One named raster input: model input = (transform(raw) / scale - mean) / std per band."""

    bands: tuple[str, ...]
    name: str = DEFAULT_INPUT  # the ONNX input name / the torch forward argument
    transform: str = "linear"  # "db": 10 log10(raw) first; raw <= 0 becomes nodata
    scale: float = 1.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    ratio: int = 1  # this input's pixel = ratio x the first input's pixel
    resampling: str = "bilinear"  # only when the raster is not on the ratio-aligned grid
    pad: str = "reflect"  # how tiles are filled past the raster's edge; "nan": not at all,
    # the model sees NaN wherever the input has no data and handles it itself
    optional: bool = False
    # A GDAL resampling ("cubic", ...): the model gets this input on the first input's grid,
    # resampled by GDAL in the read from the file's own pixels (``ratio`` still says its pixel
    # size, for alignment); "" = on its own grid.
    upsample: str = ""
    resolution_m: float | None = None  # ground resolution the model was trained at
    to_model: bool = True  # False: read only for the grid and nodata (e.g. the output grid
    # of a model that sees a coarser copy of it), never fed to the network


@dataclass(frozen=True)
class Tiling:
    """Tiles on the first input's grid; ``blend`` joins overlapping tiles: a linear ramp, or
    ``crop`` (each pixel from the tile whose centre is nearest, exact for models with a halo).
    ``edge``: tiles reaching past the raster are padded to ``tile_size`` (``pad``), or (``clip``,
    with ``crop``) each tile is a core of ``tile_size - overlap`` pixels with ``overlap / 2``
    of context on each side, cut at the raster's edge, so the model meets the raster's edge as
    a run on the whole raster would (methods that handle image edges themselves)."""

    tile_size: int = 512
    overlap: int = 32
    blend: str = "linear"
    edge: str = "pad"


@dataclass(frozen=True)
class Head:
    """What the network returns per call: ``dense`` (N, K, H, W) scores per pixel; ``patch``
    (N, K) per ``window`` x ``window`` window, run every ``stride`` pixels; ``pixel_table``
    (N, K) per row of pixel features (``halo`` pixels of context for window features)."""

    type: str = "dense"
    window: int = 0
    stride: int = 0
    halo: int = 0


@dataclass(frozen=True)
class OutputSpec:
    """One named model output: classes (a class raster, probabilities) or targets (values)."""

    name: str
    classes: tuple[ClassInfo, ...] = ()
    targets: tuple[TargetInfo, ...] = ()
    activation: str = "none"  # "softmax" turns class scores into probabilities

    @property
    def channels(self) -> int:
        return len(self.classes) or len(self.targets)


@dataclass(frozen=True)
class ModelCard:
    id: str
    title: str
    task: str
    format: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    tiling: Tiling = Tiling()
    head: Head = Head()
    feed: str = "named"  # "stacked": the inputs' bands go to the model as one tensor, in order
    weights: WeightsSource | None = None
    local_weights: Path | None = None  # a local file always overrides ``weights`` (JSON key
    # "local_weights", relative to the card's folder or absolute: custom models of one machine)
    architecture: str | None = None
    architecture_kwargs: dict = field(default_factory=dict)
    method: dict = field(default_factory=dict)  # facts only the method's own code reads
    licence: str = "unknown"
    citation: str = ""
    description: str = ""

    @property
    def primary(self) -> InputSpec:
        """The first input: its grid is the tiles' and the outputs' grid."""
        return self.inputs[0]

    @property
    def output(self) -> OutputSpec:
        """The first (main) output."""
        return self.outputs[0]

    @property
    def classes(self) -> tuple[ClassInfo, ...]:
        return self.output.classes

    @property
    def targets(self) -> tuple[TargetInfo, ...]:
        return self.output.targets

    def input(self, name: str) -> InputSpec:
        return next(spec for spec in self.inputs if spec.name == name)

    def with_local_weights(self, path: str | Path) -> "ModelCard":
        return replace(self, local_weights=Path(path))


class _Keys:
    """Typed access to one JSON object; each error names the origin and the key path."""

    def __init__(self, data: Any, origin: str, path: str = ""):
        if not isinstance(data, dict):
            where = f" {path}" if path else ""
            raise UserError(f"{origin}:{where} must be a JSON object, not "
                            f"{type(data).__name__} (see docs/model_cards.md)")
        self.data, self.origin, self.path = data, origin, path

    def fail(self, key: str, problem: str) -> UserError:
        return UserError(f"{self.origin}: {self.path}{key} {problem} (see docs/model_cards.md)")

    def get(self, key: str, kind, default=..., check=None, problem: str = ""):
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise self.fail(key, "is required but missing")
            return default
        value = self.data[key]
        try:
            if kind is bool:
                if not isinstance(value, bool):
                    raise TypeError
            elif kind is int:
                if isinstance(value, (bool, str)) or float(value) != int(value):
                    raise TypeError
                value = int(value)
            elif kind is float:
                if isinstance(value, (bool, str)):
                    raise TypeError
                value = float(value)
            elif kind is str:
                if not isinstance(value, str):
                    raise TypeError
            elif not isinstance(value, kind):
                raise TypeError
        except (TypeError, ValueError):
            names = {int: "a whole number", float: "a number", str: "text",
                     bool: "true or false", list: "a list", dict: "an object"}
            kinds = kind if isinstance(kind, tuple) else (kind,)
            name = " or ".join(names.get(k, k.__name__) for k in kinds)
            raise self.fail(key, f"must be {name}, not {value!r}") from None
        if check is not None and not check(value):
            raise self.fail(key, f"{problem}, not {value!r}")
        return value

    def floats(self, key: str, count: int):
        values = self.get(key, list, None)
        if values is None:
            return None
        if len(values) not in (1, count):
            raise self.fail(key, f"needs 1 or {count} values (one per band), not {len(values)}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise self.fail(key, f"must be numbers, not {values!r}")
        return tuple(float(v) for v in values)

    def child(self, key: str, data=None) -> "_Keys":
        return _Keys(self.data.get(key) if data is None else data, self.origin,
                     f"{self.path}{key}.")


def card_from_dict(data: Any, origin: str = "card") -> ModelCard:
    """Build and validate a card; every problem names the key and the origin file."""
    keys = _Keys(data, origin)
    task = keys.get("task", str, check=lambda t: t in TASKS, problem=f"must be one of {TASKS}")
    fmt = keys.get("format", str, check=lambda f: f in FORMATS,
                   problem=f"must be one of {FORMATS}")
    raw_inputs = keys.get("inputs", (dict, list))
    input_list = raw_inputs if isinstance(raw_inputs, list) else [raw_inputs]
    if not input_list:
        raise keys.fail("inputs", "needs at least one input")
    inputs = tuple(_input(keys.child(f"inputs[{i}]", entry), len(input_list))
                   for i, entry in enumerate(input_list))
    names = [spec.name for spec in inputs]
    if len(set(names)) != len(names):
        raise keys.fail("inputs", f"names must be unique, not {names}")
    if inputs[0].ratio != 1 or inputs[0].optional:
        raise keys.fail("inputs[0]", "is the grid of the tiles and outputs: its ratio must be 1 "
                        "and it cannot be optional")
    # Older cards keep tile_size/overlap inside their single input object.
    legacy = raw_inputs if isinstance(raw_inputs, dict) else {}
    tiling = _tiling(keys.child("tiling", keys.data.get("tiling") or {
        k: legacy[k] for k in ("tile_size", "overlap") if k in legacy}), inputs)
    head = _head(keys.child("head", keys.data.get("head") or {}), inputs)
    raw_outputs = keys.get("outputs", (dict, list))
    output_list = raw_outputs if isinstance(raw_outputs, list) else [raw_outputs]
    outputs = tuple(_output(keys.child(f"outputs[{i}]", entry), task, i)
                    for i, entry in enumerate(output_list))
    if not outputs:
        raise keys.fail("outputs", "needs at least one output")
    architecture = keys.child("architecture", keys.data.get("architecture") or {})
    card = ModelCard(
        id=keys.get("id", str, check=lambda s: s.strip() != "", problem="must not be empty"),
        title=keys.get("title", str, keys.data.get("id", "")),
        task=task, format=fmt, inputs=inputs, outputs=outputs, tiling=tiling, head=head,
        feed=keys.get("feed", str, "named", check=lambda f: f in FEEDS,
                      problem=f"must be one of {FEEDS}"),
        weights=WeightsSource.from_dict(keys.get("weights", dict)) if keys.data.get("weights")
        else None,
        local_weights=Path(keys.get("local_weights", str)) if keys.data.get("local_weights")
        else None,
        architecture=architecture.get("name", str, None),
        architecture_kwargs=dict(architecture.get("kwargs", dict, {})),
        method=dict(keys.get("method", dict, {})),
        licence=keys.get("licence", str, "unknown"),
        citation=keys.get("citation", str, ""),
        description=keys.get("description", str, ""),
    )
    if card.format != "onnx" and not card.architecture:
        raise keys.fail("architecture.name", f"is required for {card.format} weights")
    if card.feed == "stacked" and len({spec.ratio for spec in inputs}) > 1:
        raise keys.fail("feed", "stacked needs every input at the same ratio")
    return card


def _input(keys: _Keys, count: int) -> InputSpec:
    bands = keys.get("bands", list, check=lambda b: len(b) > 0, problem="needs at least one band")
    if not all(isinstance(b, (str, int)) for b in bands):
        raise keys.fail("bands", f"must be band names, not {bands!r}")
    positive = dict(check=lambda v: v > 0, problem="must be positive")
    spec = InputSpec(
        bands=tuple(str(b) for b in bands),
        name=keys.get("name", str, DEFAULT_INPUT if count == 1 else ...,
                      check=lambda s: s.isidentifier(), problem="must be an identifier"),
        transform=keys.get("transform", str, "linear", check=lambda t: t in TRANSFORMS,
                           problem=f"must be one of {TRANSFORMS}"),
        scale=keys.get("scale", float, 1.0, **positive),
        mean=keys.floats("mean", len(bands)),
        std=keys.floats("std", len(bands)),
        ratio=keys.get("ratio", int, 1, check=lambda r: r >= 1, problem="must be 1 or more"),
        resampling=keys.get("resampling", str, "bilinear", check=lambda r: r in RESAMPLING,
                            problem=f"must be one of {RESAMPLING}"),
        pad=keys.get("pad", str, "reflect", check=lambda p: p in PADDING,
                     problem=f"must be one of {PADDING}"),
        optional=keys.get("optional", bool, False),
        upsample=keys.get("upsample", str, "", check=lambda r: r in RESAMPLING + ("",),
                          problem=f"must be one of {RESAMPLING} (or empty)"),
        resolution_m=keys.get("resolution_m", float, None, **positive),
        to_model=keys.get("to_model", bool, True),
    )
    if spec.std is not None and min(spec.std) <= 0:
        raise keys.fail("std", f"must be positive, not {list(spec.std)}")
    return spec


def _tiling(keys: _Keys, inputs: tuple[InputSpec, ...]) -> Tiling:
    tiling = Tiling(
        tile_size=keys.get("tile_size", int, 512, check=lambda t: t >= 1, problem="must be 1 or more"),
        overlap=keys.get("overlap", int, 32, check=lambda o: o >= 0, problem="must be 0 or more"),
        blend=keys.get("blend", str, "linear", check=lambda b: b in BLENDS,
                       problem=f"must be one of {BLENDS}"),
        edge=keys.get("edge", str, "pad", check=lambda e: e in EDGES,
                      problem=f"must be one of {EDGES}"))
    step = alignment(inputs)
    if tiling.edge == "clip":
        if tiling.blend != "crop":
            raise keys.fail("edge", "clip needs blend crop (each pixel from one tile's core)")
        if tiling.tile_size <= tiling.overlap:
            raise keys.fail("tile_size", f"must be more than the overlap ({tiling.overlap})")
        if tiling.overlap % (2 * step):
            raise keys.fail("overlap", f"must be a multiple of {2 * step} with edge clip (half "
                            f"of it on each side, a multiple of the inputs' pixel ratios), not "
                            f"{tiling.overlap}")
    elif tiling.tile_size <= 2 * tiling.overlap:
        raise keys.fail("tile_size", f"must be more than twice the overlap ({tiling.overlap})")
    for key in ("tile_size", "overlap"):
        if getattr(tiling, key) % step:
            raise keys.fail(key, f"must be a multiple of {step} (the inputs' pixel ratios), "
                            f"not {getattr(tiling, key)}")
    return tiling


def _head(keys: _Keys, inputs: tuple[InputSpec, ...]) -> Head:
    kind = keys.get("type", str, "dense", check=lambda t: t in HEADS,
                    problem=f"must be one of {HEADS}")
    if kind == "patch":
        window = keys.get("window", int, check=lambda w: w >= 1, problem="must be 1 or more")
        stride = keys.get("stride", int, window, check=lambda s: s >= 1, problem="must be 1 or more")
        step = alignment(inputs)
        if window % step or stride % step:
            raise keys.fail("window", f"and stride must be multiples of {step} (the inputs' "
                            "pixel ratios)")
        return Head(kind, window=window, stride=stride)
    if kind == "pixel_table":
        if any(spec.ratio != 1 for spec in inputs):
            raise keys.fail("type", "pixel_table reads every input on the first input's grid: "
                            "leave the inputs' ratio at 1")
        return Head(kind, halo=keys.get("halo", int, 0, check=lambda h: h >= 0,
                                        problem="must be 0 or more"))
    return Head(kind)


def _output(keys: _Keys, task: str, index: int) -> OutputSpec:
    classes = _classes(keys, keys.get("classes", list, []))
    targets = tuple(TargetInfo(keys.child(f"targets[{i}]", t).get("name", str),
                               keys.child(f"targets[{i}]", t).get("unit", str, ""))
                    for i, t in enumerate(keys.get("targets", list, [])))
    if classes and targets:
        raise keys.fail("classes", "and targets cannot both be given: one output is either "
                        "classes or values (add a second output for the other)")
    if not classes and not targets and task != "embedding":
        raise keys.fail("classes", "or targets is required (what the model's output means)")
    return OutputSpec(
        name=keys.get("name", str, "output" if index == 0 else ...),
        classes=classes, targets=targets,
        activation=keys.get("activation", str, "softmax" if classes else "none",
                            check=lambda a: a in ACTIVATIONS,
                            problem=f"must be one of {ACTIVATIONS}"))


def _classes(keys: _Keys, entries: list) -> tuple[ClassInfo, ...]:
    """Classes from a card; a class without a colour gets a default one (models/colours.py)."""
    children = [keys.child(f"classes[{i}]", entry) for i, entry in enumerate(entries)]
    names = [child.get("name", str) for child in children]
    values = [child.get("value", int, check=lambda v: 0 <= v <= MAX_CLASS_VALUE,
                        problem=f"must be 0..{MAX_CLASS_VALUE} (255 is nodata)")
              for child in children]
    if len(set(values)) != len(values):
        raise keys.fail("classes", f"values must be unique, not {values}")
    defaults = class_colours(names)
    colours = [child.get("color", str, default, check=lambda c: bool(_COLOUR.match(c)),
                         problem="must be a colour as #rrggbb")
               for child, default in zip(children, defaults)]
    return tuple(ClassInfo(v, n, c) for v, n, c in zip(values, names, colours))


def alignment(inputs) -> int:
    """The step tile sizes and offsets must be multiples of, so every input's window starts
    on one of its own pixels: the least common multiple of the ratios."""
    return math.lcm(*[spec.ratio for spec in inputs])


def load_card(path: str | Path) -> ModelCard:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"model card {path} is not valid JSON: {exc}. Fix the file or remove it.")
    except OSError as exc:
        raise UserError(f"cannot read model card {path}: {exc}")
    card = card_from_dict(data, origin=str(path))
    if card.local_weights is not None and not card.local_weights.is_absolute():
        card = card.with_local_weights(path.parent / card.local_weights)
    return card


def card_to_dict(card: ModelCard) -> dict:
    """The JSON form of a card (what card_from_dict reads back), e.g. for user cards."""
    def input_dict(spec: InputSpec) -> dict:
        data = {"name": spec.name, "bands": list(spec.bands), "transform": spec.transform,
                "scale": spec.scale, "ratio": spec.ratio, "resampling": spec.resampling,
                "pad": spec.pad, "optional": spec.optional, "to_model": spec.to_model}
        if spec.upsample:
            data["upsample"] = spec.upsample
        for key in ("mean", "std"):
            if getattr(spec, key) is not None:
                data[key] = list(getattr(spec, key))
        if spec.resolution_m is not None:
            data["resolution_m"] = spec.resolution_m
        return data

    def output_dict(spec: OutputSpec) -> dict:
        data = {"name": spec.name, "activation": spec.activation}
        if spec.classes:
            data["classes"] = [{"value": c.value, "name": c.name, "color": c.color}
                               for c in spec.classes]
        if spec.targets:
            data["targets"] = [{"name": t.name, "unit": t.unit} for t in spec.targets]
        return data

    head = {"type": card.head.type}
    if card.head.type == "patch":
        head.update(window=card.head.window, stride=card.head.stride)
    if card.head.type == "pixel_table":
        head["halo"] = card.head.halo
    data = {"id": card.id, "title": card.title, "task": card.task, "format": card.format,
            "inputs": [input_dict(spec) for spec in card.inputs],
            "tiling": {"tile_size": card.tiling.tile_size, "overlap": card.tiling.overlap,
                       "blend": card.tiling.blend, "edge": card.tiling.edge},
            "head": head, "feed": card.feed,
            "outputs": [output_dict(spec) for spec in card.outputs],
            "licence": card.licence, "citation": card.citation,
            "description": card.description}
    if card.method:
        data["method"] = card.method
    if card.weights is not None:
        data["weights"] = {f.name: getattr(card.weights, f.name)
                           for f in dataclass_fields(card.weights)
                           if getattr(card.weights, f.name) is not None}
        if card.weights.revision_open:
            data["weights"]["revision"] = None  # open on purpose: pinned at the first download
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
        try:
            data = json.loads(metadata["rsai_card"])
        except json.JSONDecodeError as exc:
            raise UserError(f"{onnx_path}: its rsai_card metadata is not valid JSON ({exc}); "
                            "re-export the model or put a card .json beside it.")
        card = card_from_dict(data, origin=f"{onnx_path} metadata")
        return card.with_local_weights(onnx_path)

    model_type = str(metadata.get("model_type", "Segmentor")).strip('"').lower()
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
        "inputs": [{
            "bands": [f"band {i + 1}" for i in range(input_channels)],
            "scale": 255.0 if is_deepness else 1.0,
            "mean": _json_or_none(metadata.get("standardization_mean")),
            "std": _json_or_none(metadata.get("standardization_std")),
            "resolution_m": float(resolution_cm) / 100 if resolution_cm else None,
        }],
        "tiling": {"tile_size": tile, "overlap": int(tile * overlap_pct / 100)},
        "outputs": ({"classes": [{"value": i, "name": str(n)} for i, n in enumerate(names)],
                     # Deepness segmentors end in a softmax already.
                     "activation": "none" if is_deepness else "softmax"}
                    if task == "segmentation" else {"targets": [{"name": str(n)} for n in names]}),
        "licence": str(metadata.get("licence", "unknown (bare ONNX file)")),
        "citation": str(metadata.get("citation", "")),
    }
    return card_from_dict(data, origin=str(onnx_path)).with_local_weights(onnx_path)


def _json_or_none(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text

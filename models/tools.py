"""The tools the batch runner can run, each as one core entry taking its Processing parameters.

A tool's Processing algorithm turns its dialog's values into a plain dict (layers -> paths,
enums -> option names) and calls ``TOOLS[id].run(values, environment, callbacks)``; the batch
runner (models/batch) calls the same entry on a Dask worker with the user's JSON. So a tool's
behaviour is written once, under the parameter names users already know, and a worker needs no
QGIS. Values are checked here: an unknown name, a missing required one, an enum given as an
index or as its option's name, numbers as numbers or text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .callbacks import Callbacks
from .cards import ModelCard
from .errors import UserError
from .hub import WeightsStore
from .pansharpening import rasters
from .registry import ResolvedModel, load_model, resolve
from .runtime.backends import DEVICES
from .runtime.engine import Destination, RunOptions, run
from .runtime.gdal_exceptions import gdal_exceptions


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # raster, rasters, string, file, int, float, bands, enum, output
    required: bool = False
    default: Any = None
    options: tuple[str, ...] = ()  # enum: option names, in index order
    extension: str = ".tif"  # output: the file type written


@dataclass(frozen=True)
class ToolEnvironment:
    """Where models come from: the weights store and folders of the user's own cards."""
    store: WeightsStore
    card_dirs: tuple[Path, ...] = ()


@dataclass
class ToolRun:
    """What one run wrote and with which model."""
    outputs: dict[str, str]  # output parameter -> path written
    card: ModelCard | None = None
    weights: Path | None = None
    # what the Processing face needs besides the files: style facts (rgb bands, classes), counts
    details: dict = field(default_factory=dict)


def parse_band_list(text) -> list[int]:
    """'1,2,3,4', '1 2 3 4' or [1, 2, 3, 4] -> [1, 2, 3, 4]; empty -> []."""
    if isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = str(text or "").replace(",", " ").split()
    try:
        return [int(v) for v in items]
    except (TypeError, ValueError):
        raise UserError(f"BANDS must be band numbers separated by commas, e.g. 3,2,1,7; got {text!r}")


def comma_list(text):
    """'B02, B03 ,B04' -> ['B02', 'B03', 'B04']; empty -> None."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    return names or None


TILING = (Parameter("TILE_SIZE", "int"), Parameter("OVERLAP", "int"),
          Parameter("BATCH_SIZE", "int", default=1))
DEVICE = Parameter("DEVICE", "enum", default=DEVICES[0], options=DEVICES)


@dataclass(frozen=True)
class Tool:
    id: str  # rsai:<algorithm name>
    parameters: tuple[Parameter, ...]
    entry: Callable[[dict, ToolEnvironment, Callbacks], ToolRun]
    # (values, environment, callbacks) -> the model a run loads (None: the tool takes none),
    # so a batch fetches the weights once before the scenes start.
    model: Callable[[dict, ToolEnvironment, Callbacks], ResolvedModel | None] = \
        lambda values, environment, callbacks: None

    @property
    def outputs(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.kind == "output")

    def values(self, given: dict) -> dict:
        """``given`` checked and completed: every parameter present, in its plain form."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise UserError(f"{self.id} has no parameter {', '.join(unknown)}; its parameters "
                            f"are {', '.join(known)}.")
        values = {}
        for p in self.parameters:
            value = given.get(p.name)
            if value in (None, "", []):
                if p.required:
                    raise UserError(f"{self.id} needs {p.name}; give it in PARAMETERS.")
                value = p.default
            else:
                value = _plain(self.id, p, value)
            values[p.name] = value
        return values

    def run(self, given: dict, environment: ToolEnvironment,
            callbacks: Callbacks = Callbacks()) -> ToolRun:
        with gdal_exceptions():  # for this run only (models/runtime/gdal_exceptions.py)
            return self.entry(self.values(given), environment, callbacks)

    def resolve_model(self, given: dict, environment: ToolEnvironment,
                      callbacks: Callbacks = Callbacks()) -> ResolvedModel | None:
        return self.model(self.values(given), environment, callbacks)


def _plain(tool: str, p: Parameter, value):
    if p.kind == "enum":
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int) or str(value).strip().isdigit():
            index = int(value)
            if 0 <= index < len(p.options):
                return p.options[index]
        elif str(value).strip().lower() in [o.lower() for o in p.options]:
            return next(o for o in p.options if o.lower() == str(value).strip().lower())
        raise UserError(f"{tool}: {p.name} is {value!r}; give an index "
                        f"{', '.join(f'{i} ({o})' for i, o in enumerate(p.options))} or an "
                        "option's name.")
    if p.kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise UserError(f"{tool}: {p.name} must be a whole number; got {value!r}.")
    if p.kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserError(f"{tool}: {p.name} must be a number; got {value!r}.")
    if p.kind == "bands":
        return parse_band_list(value)
    if p.kind == "rasters":
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else \
            [v for v in str(value).split(";") if v]
    return str(value)


def _tiling(values: dict) -> dict:
    return {"tile_size": values["TILE_SIZE"], "overlap": values["OVERLAP"],
            "batch_size": values["BATCH_SIZE"]}


def _destinations(values: dict) -> list[Destination]:
    destinations = [Destination(values["OUTPUT"])]
    if values.get("OUTPUT_PROBABILITIES"):
        destinations.append(Destination(values["OUTPUT_PROBABILITIES"], what="probabilities"))
    return destinations


def _written(values: dict, names: Iterable[str]) -> dict[str, str]:
    return {name: values[name] for name in names if values.get(name)}


def _card_model(tasks: tuple[str, ...]):
    """A tool's model: MODEL (a card of ``tasks``), with WEIGHTS in place of its download
    when the tool has that parameter."""
    def model(values, environment, callbacks) -> ResolvedModel:
        return resolve(values["MODEL"], environment.store, environment.card_dirs,
                       callbacks.progress, callbacks.is_cancelled, tasks, values.get("WEIGHTS"))
    return model


def layer_source(path: str, layer: str | int | None) -> str:
    """The inverse of split_layer."""
    if layer is None:
        return path
    return f"{path}|{'layerid' if isinstance(layer, int) else 'layername'}={layer}"


def split_layer(source: str | None) -> tuple[str | None, str | int | None]:
    """'file.gpkg|layername=coast' -> ('file.gpkg', 'coast'); '|layerid=2' -> 2; a plain path
    -> (path, None): a vector parameter's file and layer, in QGIS's own source form."""
    if not source or "|" not in source:
        return source, None
    path, _, option = source.partition("|")
    key, _, value = option.partition("=")
    if key == "layername":
        return path, value
    if key == "layerid" and value.isdigit():
        return path, int(value)
    raise UserError(f"{source!r}: give a file, or file|layername=NAME for one layer of it.")


# rsai:run_model ------------------------------------------------------------------------------
RUN_MODEL_TASKS = ("segmentation", "regression")


def run_model(values: dict, environment: ToolEnvironment, callbacks: Callbacks) -> ToolRun:
    """Any segmentation or regression card (or ONNX file) on INPUT and EXTRA_INPUTS."""
    card, predictor, weights = load_model(
        values["MODEL"], values["DEVICE"], environment.store, environment.card_dirs, callbacks,
        tasks=RUN_MODEL_TASKS)
    if card.method.get("features"):  # e.g. a soil model: its own feature recipe
        raise UserError(f"{card.title} computes its own features from the rasters; run it "
                        f"with its method's tool (rsai:{card.method.get('name')}_predict).")
    extra = values["EXTRA_INPUTS"] or []
    if len(extra) > len(card.inputs) - 1:
        raise UserError(f"{card.title} takes {len(card.inputs)} input(s) "
                        f"({', '.join(spec.name for spec in card.inputs)}) but "
                        f"{1 + len(extra)} rasters were given; remove the extra inputs.")
    paths = {spec.name: path for spec, path in zip(card.inputs, [values["INPUT"], *extra])}
    run(card, predictor, paths, _destinations(values),
        RunOptions(bands={card.primary.name: values["BANDS"] or None}, **_tiling(values)),
        callbacks.part(0.1, 0.95))
    return ToolRun(_written(values, ("OUTPUT", "OUTPUT_PROBABILITIES")), card, weights)


RUN_MODEL = Tool("rsai:run_model", (
    Parameter("INPUT", "raster", required=True), Parameter("MODEL", "string", required=True),
    Parameter("BANDS", "bands", default=[]), Parameter("EXTRA_INPUTS", "rasters", default=[]),
    DEVICE, *TILING, Parameter("OUTPUT", "output", required=True),
    Parameter("OUTPUT_PROBABILITIES", "output")), run_model, _card_model(RUN_MODEL_TASKS))


# rsai:farmland_segmentation ------------------------------------------------------------------
def farmland_segmentation(values: dict, environment: ToolEnvironment,
                          callbacks: Callbacks) -> ToolRun:
    """FTW field classes from two Sentinel-2 dates (INPUT_A, INPUT_B) or one 8-band INPUT."""
    from .farmland.segment import segment_fields

    card, predictor, weights = load_model(
        values["MODEL"], values["DEVICE"], environment.store, environment.card_dirs, callbacks,
        tasks=("segmentation",), weights_file=values["WEIGHTS"])
    segment_fields(card, predictor, values["OUTPUT"], values["OUTPUT_PROBABILITIES"],
                   input_a=values["INPUT_A"], input_b=values["INPUT_B"], stack=values["INPUT"],
                   bands=values["BANDS"], options=RunOptions(**_tiling(values)),
                   callbacks=callbacks.part(0.1, 1))
    return ToolRun(_written(values, ("OUTPUT", "OUTPUT_PROBABILITIES")), card, weights)


FARMLAND_SEGMENTATION = Tool("rsai:farmland_segmentation", (
    Parameter("INPUT_A", "raster"), Parameter("INPUT_B", "raster"), Parameter("INPUT", "raster"),
    Parameter("MODEL", "string", default="ftw-3class"), Parameter("WEIGHTS", "file"),
    Parameter("BANDS", "bands", default=[]), DEVICE, *TILING,
    Parameter("OUTPUT", "output", required=True), Parameter("OUTPUT_PROBABILITIES", "output")),
    farmland_segmentation, _card_model(("segmentation",)))


# rsai:pansharpen ------------------------------------------------------------------------------
def _pansharpen_model(values, environment, callbacks) -> ResolvedModel | None:
    if not rasters.is_deep(values["METHOD"]):
        return None
    return resolve(values["METHOD"], environment.store, environment.card_dirs,
                   callbacks.progress, callbacks.is_cancelled, local_weights=values["WEIGHTS"])


def pansharpen(values: dict, environment: ToolEnvironment, callbacks: Callbacks) -> ToolRun:
    """MS fused onto the PAN grid with a classical METHOD or an ADWM network."""
    from .pansharpening.filters import get_sensor
    from .pansharpening.tool import load_adwm, open_checked_pair

    output, method = values["OUTPUT"], values["METHOD"]
    pair, sensor, unit_scale = open_checked_pair(values["PAN"], values["MS"], values["SENSOR"],
                                                 callbacks)
    callbacks.log(f"PAN {pair.pan.width} x {pair.pan.height}, MS {pair.band_count} bands, "
                  f"ratio {pair.ratio}, method {method}, sensor {sensor}")
    card = weights = None
    if rasters.is_deep(method):
        model, dev, card, weights = load_adwm(method, pair, values["WEIGHTS"], values["DEVICE"],
                                              environment.store, environment.card_dirs,
                                              callbacks.part(0, 0.1))
        scale = 1.0 if unit_scale else get_sensor(sensor).max_value
        rasters.pansharpen_deep(pair, model, card, output, scale, values["OUTPUT_TYPE"], dev,
                                callbacks=callbacks.part(0.1, 1.0))
    else:
        if values["WEIGHTS"]:
            raise UserError("WEIGHTS is for the ADWM methods; clear it or choose an ADWM METHOD.")
        rasters.pansharpen_classical(pair, method, output, sensor, values["OUTPUT_TYPE"],
                                     callbacks=callbacks)
    return ToolRun({"OUTPUT": output}, card, weights,
                   {"rgb": rasters.rgb_bands(sensor, pair.band_count)})


PANSHARPEN = Tool("rsai:pansharpen", (
    Parameter("PAN", "raster", required=True), Parameter("MS", "raster", required=True),
    Parameter("METHOD", "enum", default="gsa", options=tuple(key for key, _ in rasters.METHODS)),
    Parameter("SENSOR", "enum", default="auto", options=rasters.SENSOR_OPTIONS),
    Parameter("WEIGHTS", "file"), DEVICE,
    Parameter("OUTPUT_TYPE", "enum", default="float32", options=rasters.OUTPUT_TYPES),
    Parameter("OUTPUT", "output", required=True)), pansharpen, _pansharpen_model)


# rsai:fusion_landcover -----------------------------------------------------------------------
def fusion_landcover(values: dict, environment: ToolEnvironment, callbacks: Callbacks) -> ToolRun:
    """Land cover from AERIAL, fused with SATELLITE when the model takes it."""
    from .fusion.landcover import classify_land_cover

    card, predictor, weights = load_model(
        values["MODEL"], values["DEVICE"], environment.store, environment.card_dirs, callbacks,
        tasks=("segmentation",))
    classify_land_cover(card, predictor, values["OUTPUT"], values["OUTPUT_PROBABILITIES"],
                        aerial=values["AERIAL"], satellite=values["SATELLITE"],
                        satellite_bands=values["SATELLITE_BANDS"],
                        options=RunOptions(**_tiling(values)), callbacks=callbacks.part(0.1, 1))
    return ToolRun(_written(values, ("OUTPUT", "OUTPUT_PROBABILITIES")), card, weights)


FUSION_LANDCOVER = Tool("rsai:fusion_landcover", (
    Parameter("AERIAL", "raster", required=True), Parameter("SATELLITE", "raster"),
    Parameter("SATELLITE_BANDS", "bands", default=[]), Parameter("MODEL", "string", required=True),
    DEVICE, *TILING, Parameter("OUTPUT", "output", required=True),
    Parameter("OUTPUT_PROBABILITIES", "output")), fusion_landcover, _card_model(("segmentation",)))


# rsai:sea_ice_types --------------------------------------------------------------------------
SEA_ICE_OUTPUTS = ("OUTPUT", "OUTPUT_WINDOWS", "OUTPUT_PROBABILITIES", "OUTPUT_SIC",
                   "OUTPUT_FLOE", "OUTPUT_POLYGONS")  # in IceTypeOutputs' order


def sea_ice_types(values: dict, environment: ToolEnvironment, callbacks: Callbacks) -> ToolRun:
    """Ice-chart classes (and SIC/FLOE, polygons) from a Sentinel-1 HH/HV raster or .SAFE."""
    from .seaice.ice_types import IceTypeOutputs, map_ice_types

    outputs = IceTypeOutputs(*(values[name] for name in SEA_ICE_OUTPUTS))
    land_mask, land_layer = split_layer(values["LAND_MASK"])
    card, predictor, weights = load_model(
        values["MODEL"], values["DEVICE"], environment.store, environment.card_dirs, callbacks,
        tasks=("segmentation",), weights_file=values["WEIGHTS"])
    result = map_ice_types(
        card, predictor, values["INPUT"], outputs, bands=values["BANDS"], units=values["UNITS"],
        land_mask=land_mask, land_mask_layer=land_layer,
        options=RunOptions(**_tiling(values), stride=values["STRIDE"]),
        callbacks=callbacks.part(0.1, 1))
    callbacks.log(f"units {result.units}; {result.run.valid_pixels} pixels classified"
                  + (f"; {result.polygons} polygons" if result.polygons is not None else ""))
    return ToolRun(_written(values, SEA_ICE_OUTPUTS), card, weights)


SEA_ICE_TYPES = Tool("rsai:sea_ice_types", (
    Parameter("INPUT", "raster", required=True),
    Parameter("MODEL", "string", default="nersc-s1-icetype"), Parameter("WEIGHTS", "file"),
    Parameter("LAND_MASK", "file"), DEVICE, Parameter("STRIDE", "int"),
    Parameter("BANDS", "bands", default=[]),
    Parameter("UNITS", "enum", default="auto", options=("auto", "linear", "db")), *TILING,
    Parameter("OUTPUT", "output", required=True), Parameter("OUTPUT_WINDOWS", "output"),
    Parameter("OUTPUT_PROBABILITIES", "output"), Parameter("OUTPUT_SIC", "output"),
    Parameter("OUTPUT_FLOE", "output"), Parameter("OUTPUT_POLYGONS", "output", extension=".gpkg")),
    sea_ice_types, _card_model(("segmentation",)))


# rsai:soil_predict ----------------------------------------------------------------------------
SOIL_MAPS = ("OUTPUT", "OUTPUT_INTERVAL", "OUTPUT_EXTRAPOLATION")


def soil_predict(values: dict, environment: ToolEnvironment, callbacks: Callbacks) -> ToolRun:
    """Soil-property maps of INPUT (and/or values at POINTS) with a model of rsai:soil_train;
    the counts go into ``details`` (PREDICTED_PIXELS, PREDICTED_POINTS, EXTRAPOLATED_POINTS)."""
    from .soil.points import predict_points
    from .soil.predict import predict_map, soil_features
    from .soil.train import CITATION

    maps = {name: values[name] for name in SOIL_MAPS}
    points_output = values["OUTPUT_POINTS"]
    if values["POINTS"] and not points_output:
        raise UserError("POINTS was given but OUTPUT_POINTS was not: choose a GeoPackage "
                        "for the points with predictions")
    if not values["POINTS"] and not any(maps.values()):
        raise UserError("nothing to write: choose OUTPUT (and/or OUTPUT_INTERVAL, "
                        "OUTPUT_EXTRAPOLATION), or POINTS and OUTPUT_POINTS")
    card, predictor, weights = load_model(values["MODEL"], values["DEVICE"], environment.store,
                                          environment.card_dirs, callbacks, tasks=("regression",))
    soil_features(card)
    bands = comma_list(values["BANDS"])
    counts, written = {}, [name for name in SOIL_MAPS if maps[name]]
    if values["POINTS"]:
        points, layer = split_layer(values["POINTS"])
        done = predict_points(card, predictor, points, values["INPUT"], points_output,
                              layer=layer, covariates=values["COVARIATES"], bands=bands,
                              callbacks=callbacks.part(0.1, 0.3 if written else 1.0))
        for reason, count in done.skipped.items():
            callbacks.warn(f"{count} points not predicted: {reason}")
        callbacks.log(f"{done.predicted} points predicted into layer {done.layer} of "
                      f"{done.path}; {done.extrapolated} outside the training range")
        counts.update(PREDICTED_POINTS=done.predicted, EXTRAPOLATED_POINTS=done.extrapolated)
        written.append("OUTPUT_POINTS")
    if any(maps.values()):
        run = predict_map(card, predictor, values["INPUT"], maps["OUTPUT"],
                          maps["OUTPUT_INTERVAL"], maps["OUTPUT_EXTRAPOLATION"],
                          covariates=values["COVARIATES"], bands=bands, mask=values["MASK"],
                          tile_size=values["TILE_SIZE"],
                          callbacks=callbacks.part(0.3 if values["POINTS"] else 0.1, 1.0))
        counts["PREDICTED_PIXELS"] = run.valid_pixels
    callbacks.log(f"Please cite {CITATION}")
    return ToolRun(_written(values, written), card, weights, counts)


SOIL_PREDICT = Tool("rsai:soil_predict", (
    Parameter("INPUT", "raster", required=True), Parameter("BANDS", "string"),
    Parameter("COVARIATES", "rasters", default=[]), Parameter("MODEL", "file", required=True),
    Parameter("MASK", "raster"), Parameter("POINTS", "file"), DEVICE,
    Parameter("TILE_SIZE", "int"), *(Parameter(name, "output") for name in SOIL_MAPS),
    Parameter("OUTPUT_POINTS", "output", extension=".gpkg")),
    soil_predict, _card_model(("regression",)))


# rsai:bayes_landcover_classify ----------------------------------------------------------------
def bayes_landcover_classify(values: dict, environment: ToolEnvironment,
                             callbacks: Callbacks) -> ToolRun:
    """Classes (and probabilities, uncertainty) of INPUT with a model of
    rsai:bayes_landcover_train; ``details``: CLASSIFIED_PIXELS and the classes for the style."""
    from .landcover_bayes import classify_raster, load_model as load_bayes_model, \
        uncertainty_from_text

    model = load_bayes_model(values["MODEL"])
    result = classify_raster(
        model, values["INPUT"], values["OUTPUT"],
        probabilities_path=values["OUTPUT_PROBABILITIES"],
        uncertainty_path=values["OUTPUT_UNCERTAINTY"], mask_path=values["MASK"],
        uncertainty=uncertainty_from_text(values["UNCERTAINTY"], values["UNCERTAINTY_SIGMA"]),
        callbacks=callbacks.part(0, 0.95))
    callbacks.log(f"{result.valid_pixels} pixels classified into {model.n_classes} classes "
                  f"({', '.join(model.class_names)})")
    return ToolRun(_written(values, ("OUTPUT", "OUTPUT_PROBABILITIES", "OUTPUT_UNCERTAINTY")),
                   details={"CLASSIFIED_PIXELS": result.valid_pixels,
                            "classes": list(zip(model.class_ids.tolist(), model.class_names,
                                                model.colours))})


BAYES_LANDCOVER_CLASSIFY = Tool("rsai:bayes_landcover_classify", (
    Parameter("INPUT", "raster", required=True), Parameter("MODEL", "file", required=True),
    Parameter("UNCERTAINTY", "raster"), Parameter("UNCERTAINTY_SIGMA", "string"),
    Parameter("MASK", "raster"), Parameter("OUTPUT", "output", required=True),
    Parameter("OUTPUT_PROBABILITIES", "output"), Parameter("OUTPUT_UNCERTAINTY", "output")),
    bayes_landcover_classify)


# rsai:farmland_prompt_mask --------------------------------------------------------------------
def _clipseg_files(values, environment, callbacks):
    from .farmland.prompt import resolve_clipseg_files

    return resolve_clipseg_files(values["MODEL"], values["TOKENIZER"], environment.store,
                                 callbacks)


def _clipseg_model(values, environment, callbacks) -> None:
    """CLIPSeg has no card: its files are fetched into the cache (for a batch: once, on the
    client, for the workers to read offline), and no card or weights sha256 is recorded."""
    _clipseg_files(values, environment, callbacks)
    return None


def farmland_prompt_mask(values: dict, environment: ToolEnvironment,
                         callbacks: Callbacks) -> ToolRun:
    """A mask of what PROMPT describes on the RGB raster INPUT, with CLIPSeg."""
    from .farmland.clipseg import ClipSegPrompter
    from .farmland.prompt import prompt_mask

    onnx, tokenizer, origin = _clipseg_files(values, environment, callbacks.part(0, 0.05))
    prompter = ClipSegPrompter(onnx, tokenizer)
    callbacks.log(f"Model CLIPSeg: {origin}, tokenizer {tokenizer}; device onnxruntime "
                  f"{prompter.session.get_providers()[0]}")
    prompt_mask(prompter, values["PROMPT"], values["INPUT"], values["OUTPUT"],
                values["OUTPUT_PROBABILITIES"], values["THRESHOLD"], values["BANDS"],
                RunOptions(**_tiling(values)), callbacks.part(0.05, 1))
    return ToolRun(_written(values, ("OUTPUT", "OUTPUT_PROBABILITIES")), weights=onnx)


FARMLAND_PROMPT_MASK = Tool("rsai:farmland_prompt_mask", (
    Parameter("INPUT", "raster", required=True), Parameter("PROMPT", "string", default="farmland"),
    Parameter("THRESHOLD", "float", default=0.5), Parameter("MODEL", "string", required=True),
    Parameter("TOKENIZER", "file"), Parameter("BANDS", "bands", default=[]), *TILING,
    Parameter("OUTPUT", "output", required=True), Parameter("OUTPUT_PROBABILITIES", "output")),
    farmland_prompt_mask, _clipseg_model)


TOOLS: dict[str, Tool] = {tool.id: tool for tool in (RUN_MODEL, FARMLAND_SEGMENTATION,
                                                     PANSHARPEN, FUSION_LANDCOVER,
                                                     SEA_ICE_TYPES, SOIL_PREDICT,
                                                     BAYES_LANDCOVER_CLASSIFY,
                                                     FARMLAND_PROMPT_MASK)}


def find_tool(tool_id: str) -> Tool:
    """``rsai:run_model`` or ``run_model`` -> its core entry."""
    key = tool_id.strip() if ":" in tool_id else f"rsai:{tool_id.strip()}"
    if key not in TOOLS:
        raise UserError(f"unknown tool {tool_id!r}: a batch runs {', '.join(TOOLS)}.")
    return TOOLS[key]

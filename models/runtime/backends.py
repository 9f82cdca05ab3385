"""Inference backends behind one small interface: named arrays in, named arrays out.

``Predictor({"aerial": batch, "satellite": batch})`` returns ``{"output": scores, ...}`` as
float32. ONNX files run in onnxruntime (CUDA provider when present), every ONNX input fed by
name; other weights are built as torch modules from the architecture registry and run on cuda,
mps or cpu, the arrays passed as keyword arguments (one input: positionally). Both libraries are
imported only here and only when a model is loaded, so the plugin loads without them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..cards import ModelCard
from ..errors import UserError
from .architectures import find_architecture

DEVICES = ("auto", "cpu", "cuda")
Arrays = Mapping[str, np.ndarray]


@dataclass
class Predictor:
    """A loaded model: call it on named batches; ``device`` says where it really runs.

    ``fixed_sizes`` holds the (height, width) an input must have when the model fixes it;
    ``fit``, when set, is called once with the engine's sample before tiling (global
    statistics a method needs)."""

    run: Callable[[Arrays], dict[str, np.ndarray]]
    device: str  # e.g. "onnxruntime CUDAExecutionProvider" or "torch cuda (NVIDIA H100)"
    fixed_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    fit: Callable | None = None

    def __call__(self, inputs: Arrays) -> dict[str, np.ndarray]:
        return self.run(inputs)


def require(module: str, purpose: str):
    """Import a runtime dependency or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"{module} is needed to {purpose} but is not installed in QGIS's Python. Install "
            "it from the menu Plugins > Remote Sensing AI Toolbox > Install dependencies… "
            "(headless: the tool rsai:install_dependencies).")


def load_predictor(card: ModelCard, weights: Path, device: str = "auto",
                   threads: int = 0) -> Predictor:
    """The card's model with its weights, ready on DEVICE."""
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; choose one of {DEVICES}")
    if card.format == "onnx":
        predictor = onnx_predictor(weights, device, threads)
    else:
        architecture = find_architecture(card.architecture)
        module = architecture.build_module(card.architecture_kwargs)
        load_state_dict(module, weights, card.format, architecture.reader())
        predictor = torch_predictor(module, device, threads, [spec.name for spec in card.inputs],
                                    [spec.name for spec in card.outputs])
    return stacked(predictor, [spec.name for spec in card.inputs]) if card.feed == "stacked" \
        else predictor


def stacked(predictor: Predictor, names: Sequence[str]) -> Predictor:
    """A model that takes one tensor fed from several card inputs: their bands side by side,
    in card order (e.g. two Sentinel-2 dates for a network trained on an 8-band stack)."""
    def run(arrays: Arrays) -> dict[str, np.ndarray]:
        return predictor({"input": np.concatenate([arrays[n] for n in names if n in arrays],
                                                  axis=1)})

    return Predictor(run, predictor.device, predictor.fixed_sizes, predictor.fit)


def onnx_predictor(path: Path, device: str = "auto", threads: int = 0) -> Predictor:
    ort = require("onnxruntime", "run ONNX models")
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise UserError("DEVICE is cuda but onnxruntime has no CUDA provider here (installed: "
                        f"{', '.join(available)}). Install onnxruntime-gpu with a matching CUDA, "
                        "or choose DEVICE auto or cpu.")
    providers = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise UserError(f"onnxruntime cannot load {path}: {exc}")
    inputs = session.get_inputs()
    output_names = [o.name for o in session.get_outputs()]

    def run(arrays: Arrays) -> dict[str, np.ndarray]:
        if len(inputs) == 1 and len(arrays) == 1:  # one input: its name does not matter
            feed = {inputs[0].name: next(iter(arrays.values()))}
        else:
            missing = [i.name for i in inputs if i.name not in arrays]
            if missing:
                raise UserError(f"the ONNX model {path} needs the inputs {', '.join(missing)} "
                                f"but the card gives {', '.join(arrays)}: name the card's "
                                "inputs after the model's.")
            feed = {i.name: arrays[i.name] for i in inputs}
        results = session.run(None, feed)
        return {name: np.asarray(r).astype(np.float32, copy=False)
                for name, r in zip(output_names, results)}

    fixed = {i.name: tuple(i.shape[2:4]) for i in inputs
             if len(i.shape) == 4 and all(isinstance(s, int) for s in i.shape[2:4])}
    if len(inputs) == 1 and fixed:
        fixed = {"*": next(iter(fixed.values()))}
    return Predictor(run, f"onnxruntime {session.get_providers()[0]}", fixed)


def torch_device(device: str):
    """The torch device for a DEVICE choice: auto prefers cuda, then Apple's mps, then cpu."""
    torch = require("torch", "run PyTorch models")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("DEVICE is cuda but torch sees no CUDA GPU here. Install a CUDA build "
                        "of torch and an NVIDIA driver, or choose DEVICE auto or cpu.")
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if device == "auto" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_torch_device(dev) -> str:
    torch = require("torch", "run PyTorch models")
    if dev.type == "cuda":
        return f"torch cuda ({torch.cuda.get_device_name(dev)})"
    return f"torch {dev.type}"


def torch_predictor(module, device: str = "auto", threads: int = 0,
                    input_names: Sequence[str] = ("input",),
                    output_names: Sequence[str] = ("output",)) -> Predictor:
    """Run a torch module: one input positionally, several as keyword arguments; a tensor,
    tuple or dict result becomes named outputs (``output_names`` in order)."""
    torch = require("torch", "run PyTorch models")
    dev = torch_device(device)
    if threads and dev.type == "cpu":
        torch.set_num_threads(threads)
    module = module.to(dev).eval()

    def tensor(array: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(array)).to(dev)

    def run(arrays: Arrays) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            if len(arrays) == 1:
                result = module(tensor(next(iter(arrays.values()))))
            else:
                result = module(**{name: tensor(arrays[name]) for name in input_names
                                   if name in arrays})
        if isinstance(result, dict):
            items = result.items()
        elif isinstance(result, (tuple, list)):
            items = zip(output_names, result)
        else:
            items = [(output_names[0], result)]
        return {name: value.float().cpu().numpy() for name, value in items}

    return Predictor(run, describe_torch_device(dev))


def load_state_dict(module, path: Path, fmt: str, reader=None) -> None:
    """Load weights without unpickling arbitrary objects, strictly (every key must match).

    ``reader`` (path -> state dict), when the architecture has one, reads checkpoints in their
    own published layouts (Lightning checkpoints, Keras HDF5) instead of a plain torch.load.
    """
    torch = require("torch", "load PyTorch weights")
    if reader is not None and fmt != "safetensors":
        state = reader(path)
    elif fmt == "safetensors":
        state = require("safetensors.torch", "read safetensors weights").load_file(str(path))
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors for anything that is not a plain state_dict
            raise UserError(f"{path} is not a plain torch state_dict (refused to unpickle "
                            f"arbitrary objects): {exc}")
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors (got {type(state).__name__}); "
                        "use the weights file the model card names.")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # torch judges; the message names the first keys in words
        mismatch = describe_mismatch(module.state_dict(), state) or str(exc).splitlines()[0]
        raise UserError(f"the weights in {path} do not fit the architecture the card "
                        f"names: {mismatch}. Check that the card (architecture and its sizes) "
                        "matches the weights file.") from None


def describe_mismatch(expected: Mapping, state: Mapping, shown: int = 5) -> str:
    """The first missing, unexpected and misshapen keys of a state dict, in words ("" when it
    fits): what a user needs to see which architecture the file really holds."""
    def first(keys):
        text = ", ".join(keys[:shown])
        return text + (f" (and {len(keys) - shown} more)" if len(keys) > shown else "")

    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [f"{k} {tuple(state[k].shape)} (architecture {tuple(v.shape)})"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    return "; ".join(f"{what} {first(keys)}" for what, keys in (
        ("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", misshapen))
        if keys)

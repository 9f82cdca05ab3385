"""Inference backends behind one small interface: a callable from an input batch to outputs.

``Predictor(batch)`` takes float32 (N, C, H, W) and returns float32 (N, K, H, W). ONNX files run
in onnxruntime (CUDA provider when present), other weights are built as torch modules from the
architecture registry and run on cuda, mps or cpu. Both libraries are imported only here and
only when a model is loaded, so the plugin loads without them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..cards import ModelCard
from ..errors import UserError
from .architectures import build_architecture, state_dict_reader

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Predictor:
    """A loaded model: call it on a batch; ``device`` says where it really runs."""

    run: Callable[[np.ndarray], np.ndarray]
    device: str  # e.g. "onnxruntime CUDAExecutionProvider" or "torch cuda:0 (NVIDIA H100)"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)


def require(module: str, purpose: str):
    """Import a runtime dependency or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"{module} is needed to {purpose} but is not installed in QGIS's Python. Install "
            "the plugin's dependencies: run the Processing tool 'Install dependencies' "
            "(rsai:install_dependencies), or `make deps` in the plugin folder.")


def load_predictor(card: ModelCard, weights: Path, device: str = "auto",
                   threads: int = 0) -> Predictor:
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; choose one of {DEVICES}")
    if card.format == "onnx":
        return onnx_predictor(weights, device, threads)
    module = build_architecture(card.architecture, card.architecture_kwargs)
    load_state_dict(module, weights, card.format, state_dict_reader(card.architecture))
    return torch_predictor(module, device, threads)


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
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0].astype(np.float32, copy=False)

    return Predictor(run, f"onnxruntime {session.get_providers()[0]}")


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


def torch_predictor(module, device: str = "auto", threads: int = 0) -> Predictor:
    torch = require("torch", "run PyTorch models")
    dev = torch_device(device)
    if threads and dev.type == "cpu":
        torch.set_num_threads(threads)
    module = module.to(dev).eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(np.ascontiguousarray(batch)).to(dev))
        return out.float().cpu().numpy()

    return Predictor(run, describe_torch_device(dev))


def load_state_dict(module, path: Path, fmt: str, reader=None) -> None:
    """Load weights without unpickling arbitrary objects, strictly (every key must match).

    ``reader`` (path -> state dict), when the architecture has one, reads torch checkpoints in
    its own published layouts (e.g. FTW's Lightning checkpoints) instead of a plain torch.load.
    """
    torch = require("torch", "load PyTorch weights")
    if reader is not None and fmt == "torch_state_dict":
        state = reader(path)
    elif fmt == "safetensors":
        state = require("safetensors.torch", "read safetensors weights").load_file(str(path))
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors for anything that is not a plain state_dict
            raise UserError(f"{path} is not a plain torch state_dict (refused to unpickle "
                            f"arbitrary objects): {exc}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"the weights in {path} do not fit the architecture: {exc}")

"""Language-driven farmland masks with a CLIPSeg ONNX export ("cropland", "rice paddies" ...).

Targets the transformers.js / optimum export published as ``Xenova/clipseg-rd64-refined``
(``onnx/model.onnx``): inputs ``input_ids`` (int64, batch x sequence), ``pixel_values``
(float32, batch x 3 x 352 x 352) and, when the graph declares it, ``attention_mask``; output
``logits`` (batch x 352 x 352, one map per prompt; the transformers.js CLIPSeg example gets
dims [4, 352, 352] for four prompts). The session's declared inputs are read at load time, so
exports with or without ``attention_mask`` or with int32 ids both run.

Preprocessing follows CLIPSeg (``CIDAS/clipseg-rd64-refined`` image processor and the original
timojl/clipseg quick-start): RGB / 255, resize to 352 x 352 (bilinear, antialiased when
shrinking, like PIL), normalise with ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224,
0.225) — not CLIP's own statistics. A ``preprocessor_config.json`` from the same Hub repo, when
given, overrides size/mean/std. Text: the repo's ``tokenizer.json`` (CLIP BPE with
``<|startoftext|>``/``<|endoftext|>``), truncated and padded to 77 tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 352
MAX_TOKENS = 77
PAD_TOKEN = "<|endoftext|>"


class ClipSegPrompter:
    """Probability of a text prompt per pixel of an RGB tile, with onnxruntime (CPU by default)."""

    def __init__(self, onnx_path, tokenizer_json_path, preprocessor_config_path=None,
                 providers=None, max_length: int = MAX_TOKENS):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        for path, what in ((onnx_path, "CLIPSeg ONNX model"), (tokenizer_json_path, "tokenizer.json")):
            if not Path(path).is_file():
                raise UserError(f"{what} {path} does not exist; download it from the model's Hub "
                                "repository (e.g. Xenova/clipseg-rd64-refined)")
        self.image_size = IMAGE_SIZE
        self.mean = np.asarray(IMAGENET_MEAN, np.float32)
        self.std = np.asarray(IMAGENET_STD, np.float32)
        if preprocessor_config_path is not None:
            self._read_preprocessor_config(Path(preprocessor_config_path))

        self.tokenizer = Tokenizer.from_file(str(tokenizer_json_path))
        self.max_length = max_length
        self.tokenizer.enable_truncation(max_length=max_length)
        padding = self.tokenizer.padding or {}
        pad_token = padding.get("pad_token") or PAD_TOKEN
        pad_id = self.tokenizer.token_to_id(pad_token)
        if pad_id is None:
            pad_id = int(padding.get("pad_id", 0))
        self.tokenizer.enable_padding(length=max_length, pad_id=pad_id, pad_token=pad_token)
        self.pad_id = pad_id

        self.session = ort.InferenceSession(str(onnx_path),
                                            providers=providers or ["CPUExecutionProvider"])
        self._inputs = {i.name: i for i in self.session.get_inputs()}
        missing = {"input_ids", "pixel_values"} - set(self._inputs)
        if missing:
            raise UserError(f"{onnx_path} is not a CLIPSeg export: it lacks inputs {sorted(missing)} "
                            f"(has {sorted(self._inputs)})")
        names = [o.name for o in self.session.get_outputs()]
        self._output = "logits" if "logits" in names else names[0]

    def _read_preprocessor_config(self, path: Path):
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read CLIPSeg preprocessor config {path}: {exc}") from exc
        size = config.get("size", self.image_size)
        if isinstance(size, dict):
            size = size.get("height") or size.get("shortest_edge") or self.image_size
        self.image_size = int(size)
        self.mean = np.asarray(config.get("image_mean", self.mean), np.float32)
        self.std = np.asarray(config.get("image_std", self.std), np.float32)

    def tokenize(self, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask), each int64 of shape (1, max_length)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError("the text prompt is empty; describe what to find, e.g. 'farmland'")
        encoding = self.tokenizer.encode(prompt.strip())
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        return ids, mask

    def preprocess(self, rgb_tile: np.ndarray) -> np.ndarray:
        """(3,H,W) uint8 0-255, or float (0-255, or 0-1 when max <= 1) -> (1,3,S,S) float32."""
        tile = np.asarray(rgb_tile)
        if tile.ndim != 3 or tile.shape[0] != 3 or min(tile.shape[1:]) < 1:
            raise UserError(f"CLIPSeg needs a 3-band RGB tile shaped (3, H, W), got {tile.shape}")
        image = tile.astype(np.float32)
        image = np.nan_to_num(image, nan=0.0)
        if tile.dtype == np.uint8 or float(image.max(initial=0.0)) > 1.0:
            image = image / 255.0
        resized = resize_bilinear(image, self.image_size, self.image_size)
        normalised = (resized - self.mean[:, None, None]) / self.std[:, None, None]
        return normalised[None].astype(np.float32)

    def predict(self, rgb_tile: np.ndarray, prompt: str) -> np.ndarray:
        """Probability (H, W) float32 in [0, 1] that each pixel shows ``prompt``."""
        ids, mask = self.tokenize(prompt)
        pixels = self.preprocess(rgb_tile)
        feed = {"input_ids": ids.astype(_np_dtype(self._inputs["input_ids"].type)),
                "pixel_values": pixels}
        if "attention_mask" in self._inputs:
            feed["attention_mask"] = mask.astype(_np_dtype(self._inputs["attention_mask"].type))
        logits = np.asarray(self.session.run([self._output], feed)[0], dtype=np.float32)
        logits = logits.reshape(-1, *logits.shape[-2:])[0]
        probability = 1.0 / (1.0 + np.exp(-logits))
        height, width = np.asarray(rgb_tile).shape[1:]
        out = resize_bilinear(probability[None], height, width)[0]
        return np.clip(out, 0.0, 1.0).astype(np.float32)


def _np_dtype(onnx_type: str):
    return {"tensor(int32)": np.int32, "tensor(int64)": np.int64,
            "tensor(float)": np.float32}.get(onnx_type, np.int64)


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PIL-style bilinear resampling (triangle filter, pixel centres
    aligned, support widened by the shrink factor so downsampling averages instead of aliasing)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    positions = np.arange(n_in) + 0.5
    weights = np.clip(1.0 - np.abs(positions[None, :] - centres[:, None]) / support, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32)


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (C,H,W) to (C,height,width); separable, so exact for constant images."""
    rows = _resize_matrix(image.shape[1], height)
    cols = _resize_matrix(image.shape[2], width)
    return np.einsum("oh,chw,pw->cop", rows, image.astype(np.float32), cols, optimize=True)

"""A loaded CLIP: unit-length image embeddings for chips, text embeddings for queries.

Both towers come from one checkpoint, so an image and a text are compared by the cosine of
their embeddings; ``logit_scale`` is the temperature the model was trained with (zero-shot
probabilities are ``softmax(logit_scale * cosine)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cards import ModelCard
from ..errors import UserError
from ..hub import sha256_file
from ..runtime.backends import describe_torch_device, require, torch_device
from .checkpoint import load_clip_weights, read_clip_state_dict
from .network import ARCHITECTURE, build_clip
from .text import ClipTokenizer

DEFAULT_BATCH = 32


@dataclass
class ClipModel:
    network: object  # open_clip.model.CLIP, in eval mode on ``torch_device``
    tokenizer: ClipTokenizer
    model_id: str
    weights_sha256: str
    torch_device: object
    device: str  # where it really runs, in words

    @property
    def image_size(self) -> int:
        return int(self.network.visual.image_size[0])

    @property
    def context_length(self) -> int:
        return self.tokenizer.context_length

    @property
    def logit_scale(self) -> float:
        """The trained temperature: cosine similarities are multiplied by it before a softmax."""
        return float(self.network.logit_scale.detach().exp())

    def embed_images(self, chips: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """(N, 3, H, W) model-input chips (already normalised by the card's scale/mean/std)
        -> (N, D) float32 unit vectors; chips of another size are resized to the model's."""
        torch = require("torch", "run CLIP models")
        chips = np.asarray(chips, np.float32)
        if chips.ndim != 4 or chips.shape[1] != 3:
            raise UserError(f"CLIP needs RGB chips shaped (N, 3, H, W), got {chips.shape}.")
        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), batch_size):
                batch = torch.from_numpy(chips[start:start + batch_size]).to(self.torch_device)
                if batch.shape[-2:] != (self.image_size, self.image_size):
                    batch = torch.nn.functional.interpolate(
                        batch, size=(self.image_size, self.image_size), mode="bilinear",
                        align_corners=False, antialias=True)
                out.append(self.network.encode_image(batch, normalize=True).float().cpu().numpy())
        dim = int(self.network.visual.output_dim)
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def embed_texts(self, texts: Sequence[str], what: str = "query") -> np.ndarray:
        """(len(texts), D) float32 unit vectors; a text longer than the context is refused."""
        torch = require("torch", "run CLIP models")
        tokens = torch.from_numpy(self.tokenizer(texts, what)).to(self.torch_device)
        with torch.inference_mode():
            return self.network.encode_text(tokens, normalize=True).float().cpu().numpy()


def load_clip_model(card: ModelCard, weights: str | Path, device: str = "auto",
                    threads: int = 0) -> ClipModel:
    """Build the card's CLIP, load its weights strictly and move it to ``device``."""
    torch = require("torch", "run CLIP models")
    if card.task != "embedding" or card.architecture != ARCHITECTURE:
        raise UserError(f"{card.id} is not a CLIP model card (task {card.task}, architecture "
                        f"{card.architecture}); choose a CLIP card such as lrsclip-vit-b-16.")
    network = build_clip(**card.architecture_kwargs)
    load_clip_weights(network, read_clip_state_dict(weights, card.format), str(weights))
    dev = torch_device(device)
    if threads and dev.type == "cpu":
        torch.set_num_threads(threads)
    return ClipModel(network.to(dev).eval(), ClipTokenizer(network.context_length), card.id,
                     sha256_file(Path(weights)), dev, describe_torch_device(dev))

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

from ..cards import InputSpec, ModelCard
from ..errors import UserError
from ..hub import sha256_file
from ..runtime.architectures import find_architecture
from ..runtime.backends import (Predictor, describe_torch_device, load_state_dict, require,
                                torch_device)
from .network import ARCHITECTURE
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
    def embedding_dim(self) -> int:
        return int(self.network.visual.output_dim)

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
        return np.concatenate(out) if out else np.zeros((0, self.embedding_dim), np.float32)

    def chip_predictor(self, spec: InputSpec, batch_size: int = DEFAULT_BATCH) -> Predictor:
        """The image tower as the engine's predictor: chips normalised by the card's input
        ``spec`` -> ``{"embedding": (N, D)}``, ``batch_size`` chips per forward pass. Values
        are first clipped to the brightness range of the images the model was trained on
        (0..1 after the scale, before mean/std), so a bright cloud in a stretched 16-bit
        scene does not become an input no training image had."""
        mean = np.asarray(spec.mean or [0.0], np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(spec.std or [1.0], np.float32).reshape(1, -1, 1, 1)
        low, high = -mean / std, (1 - mean) / std

        def run(arrays) -> dict[str, np.ndarray]:
            chips = np.clip(next(iter(arrays.values())), low, high)
            return {"embedding": self.embed_images(chips, batch_size)}

        return Predictor(run, self.device)

    def embed_texts(self, texts: Sequence[str], what: str = "query") -> np.ndarray:
        """(len(texts), D) float32 unit vectors; a text longer than the context is refused."""
        torch = require("torch", "run CLIP models")
        tokens = torch.from_numpy(self.tokenizer(texts, what)).to(self.torch_device)
        with torch.inference_mode():
            return self._encode_text(tokens).float().cpu().numpy()

    def _encode_text(self, tokens):
        """open_clip's ``encode_text`` run on the positions up to the longest text's end token
        only: the causal mask hides every later (padding) position from the end token, whose
        output is the embedding, so the result is the same at a fraction of the cost (a label
        of 5 tokens needs 5 positions, not 248). Other text heads take the full context."""
        torch = require("torch", "run CLIP models")
        net = self.network
        if net.text_pool_type != "argmax" or not isinstance(net.text_projection,
                                                            torch.nn.Parameter):
            return net.encode_text(tokens, normalize=True)
        length = int((tokens != 0).sum(dim=1).max())
        tokens = tokens[:, :length]
        x = net.token_embedding(tokens) + net.positional_embedding[:length]
        x = net.ln_final(net.transformer(x, attn_mask=net.attn_mask[:length, :length]))
        x = x[torch.arange(len(x)), tokens.argmax(dim=-1)] @ net.text_projection
        return torch.nn.functional.normalize(x, dim=-1)


def load_clip_model(card: ModelCard, weights: str | Path, device: str = "auto",
                    threads: int = 0) -> ClipModel:
    """Build the card's CLIP through the runtime's architecture registry, load its weights
    strictly (a mismatch names the first missing keys) and move it to ``device``."""
    torch = require("torch", "run CLIP models")
    check_clip_card(card)
    architecture = find_architecture(card.architecture)
    network = architecture.build_module(card.architecture_kwargs)
    weights = Path(weights)
    if not weights.is_file():
        raise UserError(f"CLIP weights file {weights} does not exist.")
    load_state_dict(network, weights, card.format, architecture.reader())
    dev = torch_device(device)
    if threads and dev.type == "cpu":
        torch.set_num_threads(threads)
    return ClipModel(network.to(dev).eval(), ClipTokenizer(network.context_length), card.id,
                     sha256_file(weights), dev, describe_torch_device(dev))


def check_clip_card(card: ModelCard) -> None:
    """The CLIP tools run image-text embedding cards with one RGB input and a patch head."""
    if card.task != "embedding" or card.architecture != ARCHITECTURE:
        raise UserError(f"{card.id} is not a CLIP model card (task {card.task}, architecture "
                        f"{card.architecture}); choose a CLIP card such as lrsclip-vit-b-16.")
    if len(card.inputs) != 1 or len(card.primary.bands) != 3 or card.head.type != "patch":
        raise UserError(f"{card.id}: a CLIP card needs one input of three bands (red, green, "
                        "blue) and a patch head whose window is the model's image size.")

"""Tiny CLIPs for tests, saved in the checkpoint layouts the published files use, and a plain
torch reference of the OpenAI / Long-CLIP forward pass written from the papers' description
(independent of open_clip) to check the loaded models against.
"""
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from rsai_toolbox.models.clip.network import build_clip

# Same architecture as the real cards (ViT image tower, causal text tower, 49408-token
# vocabulary, 248 text positions for Long-CLIP), tiny widths.
TINY = {"embed_dim": 16, "image_size": 32, "patch_size": 8, "vision_width": 32,
        "vision_layers": 2, "vision_head_width": 16, "context_length": 248, "text_width": 32,
        "text_heads": 2, "text_layers": 2, "quick_gelu": True}
TINY_HEADS = 2  # image tower: 32 / 16; text tower: text_heads
LONG_CLIP_KEPT = 20
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def tiny_state_dict(seed: int = 0, **changes) -> dict:
    """A random tiny CLIP state dict in open_clip's layout; every weight perturbed so that each
    one matters."""
    torch.manual_seed(seed)
    network = build_clip(**{**TINY, **changes})
    state = {}
    for key, value in network.state_dict().items():
        noise = torch.randn_like(value) * 0.05 if value.is_floating_point() else 0
        state[key] = (value + noise).contiguous()
    state["logit_scale"] = torch.tensor(math.log(40.0))
    return state


def long_clip_layout(state: dict, seed: int = 1) -> dict:
    """The same model saved as Long-CLIP/LRSCLIP save it: two 248-row position tables, the first
    20 rows read from ``positional_embedding`` and the rest from ``positional_embedding_res``;
    the unread rows of each hold other random values (they must not matter)."""
    generator = torch.Generator().manual_seed(seed)
    table = state["positional_embedding"]
    first = torch.randn(table.shape, generator=generator) * 0.05
    rest = torch.randn(table.shape, generator=generator) * 0.05
    first[:LONG_CLIP_KEPT] = table[:LONG_CLIP_KEPT]
    rest[LONG_CLIP_KEPT:] = table[LONG_CLIP_KEPT:]
    return {**state, "positional_embedding": first, "positional_embedding_res": rest}


def save_checkpoint(path: Path, state: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def write_card(folder: Path, card_id: str, weights: dict | None = None, local_weights=None,
               **architecture) -> Path:
    """A CLIP card like models/cards/lrsclip-vit-b-16.json, with the tiny architecture."""
    size = architecture.get("image_size", TINY["image_size"])
    data = {
        "id": card_id, "title": card_id, "task": "embedding", "format": "torch_state_dict",
        "architecture": {"name": "open_clip_vit", "kwargs": {**TINY, **architecture}},
        "inputs": [{"name": "image", "bands": ["red", "green", "blue"], "scale": 255,
                    "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}],
        "head": {"type": "patch", "window": size, "stride": size},
        "outputs": [{"name": "embedding"}],
        "licence": "test", "citation": "test",
    }
    if weights is not None:
        data["weights"] = weights
    if local_weights is not None:
        data["local_weights"] = str(local_weights)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{card_id}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- reference forward pass ----------------------------------------------------------------------
def _norm(x, state, prefix):
    return F.layer_norm(x, x.shape[-1:], state[f"{prefix}.weight"], state[f"{prefix}.bias"], 1e-5)


def _transformer(x, state, prefix, heads, causal, quick_gelu):
    n, length, width = x.shape
    mask = torch.full((length, length), float("-inf")).triu(1) if causal else 0.0
    i = 0
    while f"{prefix}.resblocks.{i}.ln_1.weight" in state:
        p = f"{prefix}.resblocks.{i}"
        h = _norm(x, state, f"{p}.ln_1")
        q, k, v = (h @ state[f"{p}.attn.in_proj_weight"].T + state[f"{p}.attn.in_proj_bias"]).chunk(3, -1)
        q, k, v = (t.reshape(n, length, heads, -1).transpose(1, 2) for t in (q, k, v))
        weights = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask).softmax(-1)
        attended = (weights @ v).transpose(1, 2).reshape(n, length, width)
        x = x + attended @ state[f"{p}.attn.out_proj.weight"].T + state[f"{p}.attn.out_proj.bias"]
        h = _norm(x, state, f"{p}.ln_2") @ state[f"{p}.mlp.c_fc.weight"].T + state[f"{p}.mlp.c_fc.bias"]
        h = h * torch.sigmoid(1.702 * h) if quick_gelu else F.gelu(h)
        x = x + h @ state[f"{p}.mlp.c_proj.weight"].T + state[f"{p}.mlp.c_proj.bias"]
        i += 1
    return x


def reference_image_embeddings(state: dict, chips, heads=TINY_HEADS, quick_gelu=True):
    """Unit image embeddings of (N, 3, S, S) model-input chips, straight from the state dict."""
    state = {k: v.float() for k, v in state.items() if hasattr(v, "is_floating_point")}
    with torch.no_grad():
        chips = torch.as_tensor(chips, dtype=torch.float32)
        patch = state["visual.conv1.weight"].shape[-1]
        tokens = F.conv2d(chips, state["visual.conv1.weight"], stride=patch).flatten(2).transpose(1, 2)
        cls = state["visual.class_embedding"].expand(len(chips), 1, -1)
        x = torch.cat([cls, tokens], 1) + state["visual.positional_embedding"]
        x = _transformer(_norm(x, state, "visual.ln_pre"), state, "visual.transformer", heads,
                         False, quick_gelu)
        out = _norm(x[:, 0], state, "visual.ln_post") @ state["visual.proj"]
    return F.normalize(out, dim=-1).numpy()


def reference_text_embeddings(state: dict, tokens, heads=TINY["text_heads"], quick_gelu=True):
    """Unit text embeddings of (M, L) token ids; Long-CLIP's two position tables are used as
    Long-CLIP uses them (mask1 on the first 20 positions, mask2 on the rest)."""
    state = {k: v.float() for k, v in state.items() if hasattr(v, "is_floating_point")}
    with torch.no_grad():
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        x = state["token_embedding.weight"][tokens]
        positions = state["positional_embedding"]
        if "positional_embedding_res" in state:
            mask1 = (torch.arange(len(positions)) < LONG_CLIP_KEPT).float()[:, None]
            positions = positions * mask1 + state["positional_embedding_res"] * (1 - mask1)
        x = _transformer(x + positions, state, "transformer", heads, True, quick_gelu)
        x = _norm(x, state, "ln_final")
        out = x[torch.arange(len(tokens)), tokens.argmax(-1)] @ state["text_projection"]
    return F.normalize(out, dim=-1).numpy()


def reference_tokens(texts, context_length):
    """Token ids from open_clip's own tokenizer (the one the CLIP authors' loaders match)."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length)(list(texts)).numpy()


def long_text(tokens_wanted: int) -> str:
    """A caption of about ``tokens_wanted`` tokens (each word below is one token)."""
    words = ("dense residential area with red roofs beside a river bend and green fields "
             "near the road").split()
    return " ".join(words[i % len(words)] for i in range(tokens_wanted - 2))

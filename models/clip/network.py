"""CLIP networks in OpenAI's layout, built by open_clip from the sizes a model card gives.

OpenAI's CLIP, Long-CLIP, LRSCLIP and RemoteCLIP share one layout: a ViT image tower
(``visual.*``) and a causal text transformer (``transformer.*``, ``token_embedding``,
``positional_embedding``, ``ln_final``, ``text_projection``) plus ``logit_scale``. open_clip's
``CLIP`` class has exactly these keys, so published state dicts load into it strictly. The
network is built from explicit sizes (``pretrained=None`` in open_clip's words): open_clip never
downloads anything here, and its tokenizer vocabulary ships inside the package.
"""

from __future__ import annotations

from ..runtime.backends import require

ARCHITECTURE = "open_clip_vit"
VOCAB_SIZE = 49408  # CLIP's byte-pair vocabulary (open_clip's SimpleTokenizer)


def build_clip(embed_dim: int, image_size: int, patch_size: int, vision_width: int,
               vision_layers: int, context_length: int, text_width: int, text_heads: int,
               text_layers: int, vocab_size: int = VOCAB_SIZE, vision_head_width: int = 64,
               quick_gelu: bool = True):
    """An open_clip ``CLIP`` with random weights: ViT-B/16 is (512, 224, 16, 768, 12, ...).

    ``context_length`` is the text positions the checkpoint has (77 for CLIP, 248 for
    Long-CLIP/LRSCLIP); ``quick_gelu`` is OpenAI's activation, which models fine-tuned from
    OpenAI weights keep.
    """
    require("open_clip", "build CLIP models")
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=vision_layers, width=vision_width, head_width=vision_head_width,
                           patch_size=patch_size, image_size=image_size)
    text = CLIPTextCfg(context_length=context_length, vocab_size=vocab_size, width=text_width,
                       heads=text_heads, layers=text_layers)
    return CLIP(embed_dim, vision, text, quick_gelu=quick_gelu)

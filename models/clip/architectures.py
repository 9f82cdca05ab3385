"""The CLIP network the runtime loads weights into (see runtime/architectures.py)."""

from ..runtime.architectures import Architecture

ARCHITECTURES = {
    # OpenAI-layout CLIP (ViT image tower + text transformer) built by open_clip from the card's
    # sizes; checkpoints in the OpenAI, open_clip, RemoteCLIP and Long-CLIP/LRSCLIP layouts.
    "open_clip_vit": Architecture(".clip.network:build_clip",
                                  read_weights=".clip.checkpoint:read_clip_state_dict"),
}

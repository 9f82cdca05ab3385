"""Farmland test builders shared by unit and e2e tests: a CLIPSeg-signature ONNX stand-in with a
real BPE tokenizer, and FTW U-Net weights with random, seeded values."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

FTW_REPO = "torchgeo/ftw"
FTW_REVISION = "d2fdab6ea9d9cd38b491292cc9a5c8642533cef5"
FTW_FILE_3CLASS = "commercial/3-class/sentinel2_unet_effb3-5d591cbb.pth"

WORDS = ["farmland", "cropland", "field", "fields", "rice", "paddy", "wheat", "maize", "forest",
         "water", "road", "building", "a", "satellite", "image", "of", "green", "bare", "soil"]


class TinyClipSeg(torch.nn.Module):
    """logits[b, y, x] = sum_c pixel[b, c, y, x] * text[b, c] + bias: depends on image and ids."""

    def __init__(self, vocab_size: int):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(vocab_size, 3)
        self.bias = torch.nn.Parameter(torch.tensor(0.1))

    def text(self, input_ids, attention_mask):
        m = attention_mask.unsqueeze(-1).float()
        return (self.embed(input_ids) * m).sum(1) / m.sum(1)

    def forward(self, input_ids, pixel_values, attention_mask):
        t = self.text(input_ids, attention_mask)
        return (pixel_values * t[:, :, None, None]).sum(1) + self.bias


def clipseg_assets(folder: Path) -> tuple[TinyClipSeg, Path, Path]:
    """(torch model, tokenizer.json, model.onnx) in ``folder``: the Xenova export's signature."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  end_of_word_suffix="</w>", show_progress=False)
    tok.train_from_iterator([" ".join(WORDS)] * 20, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", tok.token_to_id("<|startoftext|>")),
                        ("<|endoftext|>", tok.token_to_id("<|endoftext|>"))])
    tok_path = folder / "tokenizer.json"
    tok.save(str(tok_path))

    model = TinyClipSeg(tok.get_vocab_size()).eval()
    onnx_path = folder / "model.onnx"
    ids = torch.zeros((1, 77), dtype=torch.int64)
    torch.onnx.export(model, (ids, torch.zeros(1, 3, 352, 352), torch.ones_like(ids)),
                      str(onnx_path), input_names=["input_ids", "pixel_values", "attention_mask"],
                      output_names=["logits"], dynamo=False, opset_version=17,
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                    "attention_mask": {0: "batch", 1: "sequence"},
                                    "pixel_values": {0: "batch"}, "logits": {0: "batch"}})
    return model, tok_path, onnx_path


def ftw_model(num_classes: int = 3, seed: int = 0):
    """An FTW U-Net (efficientnet-b3, 8 bands) with random seeded weights, in eval mode."""
    from rsai_toolbox.models.farmland import ftw
    torch.manual_seed(seed)
    return ftw.build_ftw_unet(num_classes).eval()

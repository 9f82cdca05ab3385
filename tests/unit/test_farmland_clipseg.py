"""CLIPSeg prompter on a tiny ONNX stand-in with CLIPSeg's signature and a real BPE tokenizer."""
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.farmland.clipseg import (IMAGENET_MEAN, IMAGENET_STD, ClipSegPrompter,
                                                  resize_bilinear)

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


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clipseg")
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


def test_tokenization_is_the_tokenizers(assets):
    _, tok_path, onnx_path = assets
    prompter = ClipSegPrompter(onnx_path, tok_path)
    reference = Tokenizer.from_file(str(tok_path)).encode("Farmland fields")
    ids, mask = prompter.tokenize("  Farmland fields ")
    n = len(reference.ids)
    assert ids.shape == mask.shape == (1, 77) and ids.dtype == np.int64
    assert ids[0, :n].tolist() == reference.ids
    assert reference.tokens[0] == "<|startoftext|>" and reference.tokens[-1] == "<|endoftext|>"
    eot = Tokenizer.from_file(str(tok_path)).token_to_id("<|endoftext|>")
    assert (ids[0, n:] == eot).all()
    assert mask[0].tolist() == [1] * n + [0] * (77 - n)
    long_ids, long_mask = prompter.tokenize(" ".join(WORDS * 10))
    assert long_ids.shape == (1, 77) and long_mask.all()
    assert long_ids[0, -1] == eot  # truncated but still closed by the end token


def test_prediction_matches_model_and_depends_on_prompt(assets):
    model, tok_path, onnx_path = assets
    prompter = ClipSegPrompter(onnx_path, tok_path)
    rng = np.random.default_rng(1)
    tile = rng.integers(0, 256, (3, 100, 140), dtype=np.uint8)
    farmland = prompter.predict(tile, "farmland")
    forest = prompter.predict(tile, "forest")
    assert farmland.shape == (100, 140) and farmland.dtype == np.float32
    assert 0 <= farmland.min() and farmland.max() <= 1
    assert np.abs(farmland - forest).max() > 1e-3

    # Uniform tile: every resize is exact, so the probability is known in closed form.
    colour = np.array([200, 150, 50], np.uint8)
    uniform = np.broadcast_to(colour[:, None, None], (3, 64, 80)).copy()
    pixel = (colour / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    ids, mask = prompter.tokenize("rice paddy")
    with torch.no_grad():
        text = model.text(torch.from_numpy(ids), torch.from_numpy(mask))[0].numpy()
    expected = 1 / (1 + np.exp(-(pixel @ text + 0.1)))
    got = prompter.predict(uniform, "rice paddy")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # float 0-1 input is the same image
    np.testing.assert_allclose(prompter.predict(uniform / 255.0, "rice paddy"), got, atol=1e-6)


def test_bad_inputs_are_user_errors(assets, tmp_path):
    _, tok_path, onnx_path = assets
    prompter = ClipSegPrompter(onnx_path, tok_path)
    with pytest.raises(UserError, match="empty"):
        prompter.predict(np.zeros((3, 8, 8), np.uint8), "   ")
    with pytest.raises(UserError, match="RGB"):
        prompter.predict(np.zeros((4, 8, 8), np.uint8), "farmland")
    with pytest.raises(UserError, match="does not exist"):
        ClipSegPrompter(tmp_path / "none.onnx", tok_path)


@pytest.mark.parametrize("shape", [(100, 140, 352, 352), (600, 500, 352, 352), (352, 352, 64, 80)])
def test_resize_matches_pil_bilinear(shape):
    Image = pytest.importorskip("PIL.Image")  # the reference CLIPSeg's processor resizes with
    h, w, out_h, out_w = shape
    img = np.random.default_rng(0).random((h, w)).astype(np.float32)
    expected = np.asarray(Image.fromarray(img, mode="F").resize((out_w, out_h), Image.BILINEAR))
    np.testing.assert_allclose(resize_bilinear(img[None], out_h, out_w)[0], expected, atol=1e-5)
    const = np.full((3, h, w), 0.25, np.float32)
    np.testing.assert_allclose(resize_bilinear(const, out_h, out_w), 0.25, atol=1e-6)

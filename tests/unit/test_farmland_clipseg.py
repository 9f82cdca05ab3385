"""CLIPSeg prompter on a tiny ONNX stand-in with CLIPSeg's signature and a real BPE tokenizer."""
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from helpers_farmland import WORDS, clipseg_assets
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.farmland.clipseg import (IMAGENET_MEAN, IMAGENET_STD, ClipSegPrompter,
                                                  resize_bilinear)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return clipseg_assets(tmp_path_factory.mktemp("clipseg"))


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

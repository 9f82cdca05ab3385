"""CLIP models (models/clip): published checkpoint layouts load into open_clip and give the
same embeddings as a plain reference forward pass; text length is checked, never cut."""
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rsai_toolbox.models import registry
from rsai_toolbox.models.cards import load_card
from rsai_toolbox.models.clip.model import load_clip_model
from rsai_toolbox.models.clip.network import build_clip
from rsai_toolbox.models.clip.checkpoint import read_clip_state_dict
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.farmland.clipseg import resize_bilinear

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_clip import (TINY, long_clip_layout, long_text, reference_image_embeddings,  # noqa: E402
                          reference_text_embeddings, reference_tokens, save_checkpoint,
                          tiny_state_dict, write_card)

QUERIES = ["a dense residential area with red roofs beside a river bend",
           "farmland", "an airport with two runways", long_text(200)]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """A tiny Long-CLIP checkpoint (the LRSCLIP layout) and the model loaded from its card."""
    folder = tmp_path_factory.mktemp("long_clip")
    state = long_clip_layout(tiny_state_dict())
    weights = save_checkpoint(folder / "LRSCLIP_ViT-B-16.pt", state)
    card = load_card(write_card(folder, "tiny-long-clip", local_weights=weights))
    return state, load_clip_model(card, weights, device="cpu")


def test_chip_embeddings_equal_the_model_on_each_chip(long_clip):
    state, model = long_clip
    chips = np.random.default_rng(0).normal(size=(7, 3, 32, 32)).astype(np.float32)
    got = model.embed_images(chips, batch_size=3)
    assert got.shape == (7, TINY["embed_dim"]) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(got, reference_image_embeddings(state, chips), atol=1e-5)
    for i in (0, 4):  # one chip on its own gives the same vector as in a batch
        np.testing.assert_allclose(model.embed_images(chips[i:i + 1])[0], got[i], atol=1e-5)


def test_chips_of_another_size_are_resized_to_the_model_input(long_clip):
    _, model = long_clip
    chips = np.random.default_rng(1).normal(size=(2, 3, 48, 48)).astype(np.float32)
    small = np.stack([resize_bilinear(chip, 32, 32) for chip in chips])  # PIL-style, antialiased
    np.testing.assert_allclose(model.embed_images(chips), model.embed_images(small), atol=1e-5)


def test_text_embeddings_equal_long_clip_forward_pass(long_clip):
    state, model = long_clip
    got = model.embed_texts(QUERIES)
    tokens = reference_tokens(QUERIES, 248)
    assert (tokens != 0).sum(axis=1)[-1] == 200  # the long query really uses 200 positions
    np.testing.assert_allclose(got, reference_text_embeddings(state, tokens), atol=1e-5)
    # Positions past 20 matter: the long query differs from its first words alone.
    assert float(got[-1] @ model.embed_texts([" ".join(QUERIES[-1].split()[:15])])[0]) < 0.999


def test_texts_cut_after_their_end_token_equal_open_clips_full_context(long_clip):
    _, model = long_clip
    texts = ["farmland", "a river", QUERIES[0], long_text(120)]
    tokens = torch.from_numpy(model.tokenizer(texts))
    with torch.inference_mode():
        full = model.network.encode_text(tokens, normalize=True).numpy()
    np.testing.assert_allclose(model.embed_texts(texts), full, atol=1e-6)
    np.testing.assert_allclose(model.embed_texts(texts[:1]), full[:1], atol=1e-6)


def test_200_token_query_runs_on_248_context_and_is_reported_too_long_on_77(long_clip, tmp_path):
    _, long_model = long_clip
    query = long_text(200)
    assert long_model.tokenizer.token_count(query) == 200
    assert long_model.embed_texts([query]).shape == (1, TINY["embed_dim"])

    state = tiny_state_dict(context_length=77)
    weights = save_checkpoint(tmp_path / "short.pt", state)
    short = load_clip_model(load_card(write_card(tmp_path, "tiny-77", local_weights=weights,
                                                 context_length=77)), weights, device="cpu")
    with pytest.raises(UserError) as e:
        short.embed_texts(["farmland", query])
    message = str(e.value)
    assert "query 2 is 200 tokens long" in message and "at most 77" in message
    assert "lrsclip-vit-b-16" in message
    ok = ["farmland", long_text(77)]  # exactly the context fits
    np.testing.assert_allclose(short.embed_texts(ok),
                               reference_text_embeddings(state, reference_tokens(ok, 77)), atol=1e-5)


@pytest.mark.parametrize("texts", [[""], ["   "], [], ["farmland", "\n"]])
def test_empty_query_is_a_user_error(long_clip, texts):
    _, model = long_clip
    with pytest.raises(UserError, match="empty|no query"):
        model.embed_texts(texts)


def test_logit_scale_is_the_checkpoint_temperature(long_clip):
    state, model = long_clip
    assert model.logit_scale == pytest.approx(float(state["logit_scale"].exp()), rel=1e-6)
    assert model.context_length == 248 and model.image_size == 32


# -- checkpoints ---------------------------------------------------------------------------------
def test_openai_extras_half_precision_and_safetensors_load(tmp_path):
    from safetensors.torch import save_file

    state = tiny_state_dict(seed=3)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    extras = {**half, "input_resolution": torch.tensor(32), "context_length": torch.tensor(248),
              "vocab_size": torch.tensor(49408)}
    chips = np.random.default_rng(2).normal(size=(2, 3, 32, 32)).astype(np.float32)
    expected = reference_image_embeddings(half, chips)
    for fmt, path in (("torch_state_dict", save_checkpoint(tmp_path / "openai.pt", extras)),
                      ("safetensors", tmp_path / "w.safetensors")):
        if fmt == "safetensors":
            save_file(half, str(path))
        card = load_card(write_card(tmp_path, f"tiny-{fmt}", local_weights=path))
        card = replace(card, format=fmt)
        model = load_clip_model(card, path, device="cpu")
        assert next(model.network.parameters()).dtype == torch.float32
        np.testing.assert_allclose(model.embed_images(chips), expected, atol=1e-5)


def test_checkpoint_needing_code_unpickling_is_refused(tmp_path):
    whole_model = tmp_path / "whole.pt"
    torch.save(build_clip(**TINY), whole_model)  # a pickled nn.Module, not a state dict
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(scripted))  # like OpenAI's .pt
    for path in (whole_model, scripted):
        with pytest.raises(UserError) as e:
            read_clip_state_dict(path)
        assert "refused" in str(e.value) and "unpickling of code objects" in str(e.value)
        assert "state dict" in str(e.value)


def test_keys_not_matching_the_card_name_the_first_missing_keys(tmp_path):
    state = tiny_state_dict()
    del state["visual.proj"], state["text_projection"]
    weights = save_checkpoint(tmp_path / "w.pt", state)
    card = load_card(write_card(tmp_path, "tiny", local_weights=weights))
    with pytest.raises(UserError) as e:
        load_clip_model(card, weights, device="cpu")
    assert "missing keys text_projection, visual.proj" in str(e.value)

    b32 = save_checkpoint(tmp_path / "b32.pt", tiny_state_dict(patch_size=16))  # other patch size
    with pytest.raises(UserError, match=r"wrong shapes visual.positional_embedding \(5, 32\) "
                                        r"\(architecture \(17, 32\)\).*Check that the card"):
        load_clip_model(card, b32, device="cpu")
    with pytest.raises(UserError, match="does not exist"):
        load_clip_model(card, tmp_path / "absent.pt", device="cpu")


def test_model_and_tokenizer_need_no_network(tmp_path):
    """open_clip builds the network and reads its tokenizer vocabulary with sockets blocked."""
    code = textwrap.dedent(f"""
        import socket, sys
        def refuse(*args, **kwargs):
            raise OSError("network used")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / 'build' / 'plugins')!r})
        from rsai_toolbox.models.clip.network import build_clip
        from rsai_toolbox.models.clip.text import ClipTokenizer
        network = build_clip(**{TINY!r})
        ids = ClipTokenizer(248)(["a river bend"])
        print(int((ids != 0).sum()))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "5"  # start, a, river, bend, end


# -- cards ---------------------------------------------------------------------------------------
def test_builtin_clip_cards_describe_their_checkpoints():
    cards = registry.list_cards()
    long_card, short_card = cards["lrsclip-vit-b-16"], cards["remoteclip-vit-b-32"]
    assert long_card.task == short_card.task == "embedding"
    assert long_card.weights.repo_id == "cwz14/LRSCLIP_ViT-B-16"
    assert long_card.weights.filename == "LRSCLIP_ViT-B-16.pt" and long_card.weights.revision_open
    assert short_card.weights.repo_id == "chendelong/RemoteCLIP"
    for card, context, grid in ((long_card, 248, 14), (short_card, 77, 7)):
        assert card.licence and ("arXiv" in card.citation or "doi:" in card.citation)
        shapes = {k: tuple(v.shape) for k, v in build_clip(**card.architecture_kwargs).state_dict().items()}
        assert shapes["positional_embedding"] == (context, 512)
        assert shapes["visual.positional_embedding"] == (grid * grid + 1, 768)
        assert shapes["text_projection"] == (512, 512)


def test_card_with_open_revision_round_trips(tmp_path):
    from rsai_toolbox.models.cards import card_from_dict, card_to_dict

    card = registry.list_cards()["lrsclip-vit-b-16"]
    again = card_from_dict(card_to_dict(card))
    assert again.weights == card.weights and again.architecture_kwargs == card.architecture_kwargs

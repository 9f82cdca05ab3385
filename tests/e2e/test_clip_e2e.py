"""rsai:embed_image_chips, rsai:text_search and rsai:zero_shot_classify through real
qgis_process on the real Sentinel-2 patch (true-colour bands 4, 3, 2), with tiny CLIPs of the
real architecture (random weights in the LRSCLIP / open_clip checkpoint layouts) served by the
local Hub-compatible server through user cards whose revision is left open, as the built-in
cards leave it."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr

from helpers import (EXAMPLE_MODELS, landcover_geotiff, landcover_scene, qgis_process, read,
                     write_geotiff)
from helpers_clip import (CLIP_MEAN, CLIP_STD, TINY, long_clip_layout, long_text,
                          reference_image_embeddings, reference_text_embeddings,
                          reference_tokens, save_checkpoint, tiny_state_dict)
from hub_server import HubServer

COMMIT = "5eed" + "0" * 36
LRSCLIP_REPO, LRSCLIP_FILE = "cwz14/LRSCLIP_ViT-B-16", "LRSCLIP_ViT-B-16.pt"
SHORT_REPO, SHORT_FILE = "chendelong/RemoteCLIP", "RemoteCLIP-ViT-B-32.pt"
TRUE_COLOUR = ("BANDS=4", "BANDS=3", "BANDS=2")
QUERY = "a dense residential area with red roofs beside a river bend"
LABELS = ["forest", "grassland", "artificial surface"]


def card(card_id, repo, filename, context_length):
    return {"id": card_id, "title": card_id, "task": "embedding", "format": "torch_state_dict",
            "architecture": {"name": "open_clip_vit",
                             "kwargs": {**TINY, "context_length": context_length}},
            "weights": {"repo_id": repo, "revision": None, "filename": filename,
                        "sha256": None},
            "inputs": [{"name": "image", "bands": ["red", "green", "blue"], "scale": 255,
                        "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}],
            "head": {"type": "patch", "window": TINY["image_size"],
                     "stride": TINY["image_size"]},
            "outputs": [{"name": "embedding"}], "licence": "test", "citation": "test"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The Hub server with both tiny checkpoints, and a QGIS profile whose user cards point
    at them (revision open: pinned at the first download)."""
    root = tmp_path_factory.mktemp("clip_hub")
    state = long_clip_layout(tiny_state_dict(seed=21))
    checkpoint = save_checkpoint(root / "upload" / LRSCLIP_FILE, state)
    short = save_checkpoint(root / "upload" / SHORT_FILE, tiny_state_dict(seed=22,
                                                                         context_length=77))
    profile = {"QGIS_CUSTOM_CONFIG_PATH": str(root / "qgis"),
               "RSAI_CACHE_DIR": str(root / "cache"), "HF_HUB_OFFLINE": "0"}
    cards = Path(profile["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "rsai" / "cards"
    cards.mkdir(parents=True)
    for name, data in (("tiny-lrsclip", card("tiny-lrsclip", LRSCLIP_REPO, LRSCLIP_FILE, 248)),
                       ("tiny-77", card("tiny-77", SHORT_REPO, SHORT_FILE, 77))):
        (cards / f"{name}.json").write_text(json.dumps(data))
    with HubServer(root / "hub") as server:
        server.add_file(LRSCLIP_REPO, COMMIT, LRSCLIP_FILE, checkpoint.read_bytes())
        server.add_file(SHORT_REPO, COMMIT, SHORT_FILE, short.read_bytes())
        yield {"state": state, "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
               "env": {**profile, "HF_ENDPOINT": server.endpoint}, "server": server}


@pytest.fixture(scope="module")
def s2(shared_data, tmp_path_factory):
    """The real landcover_s2 scene (13 bands, TOA reflectance) and its true-colour bands."""
    path = landcover_geotiff(shared_data, tmp_path_factory.mktemp("s2") / "s2.tif")
    return path, landcover_scene(shared_data)[[3, 2, 1]].astype(np.float64)


@pytest.fixture(scope="module")
def index(hub, s2, tmp_path_factory):
    """The index of the scene: chips of 32 px every 16 px, embedded through qgis_process."""
    folder = tmp_path_factory.mktemp("index")
    result = qgis_process("run", "rsai:embed_image_chips", "--", f"INPUT={s2[0]}", *TRUE_COLOUR,
                          "MODEL=tiny-lrsclip", "STRIDE=16", "DEVICE=1", "BATCH_SIZE=7",
                          f"OUTPUT={folder / 'index.gpkg'}", env=hub["env"])
    return folder / "index.gpkg", result.stdout + result.stderr


def run(tool, *args, env, check=True):
    return qgis_process("run", f"rsai:{tool}", "--", *args, env=env, check=check)


def reference_chips(state, rgb, cols, rows, chip, stride):
    white = max(np.percentile(band, 99) for band in rgb)
    mean, std = np.array(CLIP_MEAN)[:, None, None], np.array(CLIP_STD)[:, None, None]
    chips = [np.clip(rgb[:, r * stride:r * stride + chip, c * stride:c * stride + chip] / white,
                     0, 1) for c, r in zip(cols, rows)]
    return reference_image_embeddings(state, ((np.stack(chips) - mean) / std).astype(np.float32))


def read_layer(path, layer):
    """(fid, attributes, envelope) per feature (a BLOB as bytes) and the layer metadata."""
    dataset = ogr.Open(str(path))
    features = []
    for f in dataset.GetLayer(layer):
        values = f.items()
        if "embedding" in values:
            values["embedding"] = f.GetFieldAsBinary("embedding")
        features.append((f.GetFID(), values, f.GetGeometryRef().GetEnvelope()))
    meta = dataset.GetLayer(layer).GetMetadata()
    return features, meta


def test_index_of_sentinel2_holds_the_model_on_each_chip(hub, s2, index):
    path, log = index
    assert f"pinned its current commit {COMMIT}" in log  # first download of an open revision
    assert "99th percentile" in log
    features, meta = read_layer(path, "chips")
    assert meta["RSAI_MODEL_ID"] == "tiny-lrsclip" and meta["RSAI_WEIGHTS_SHA256"] == hub["sha256"]
    assert (meta["RSAI_CHIP_SIZE"], meta["RSAI_STRIDE"], meta["RSAI_BANDS"]) == ("32", "16", "4,3,2")
    cols = np.array([f[1]["col"] for f in features])
    rows = np.array([f[1]["row"] for f in features])
    assert len(features) == 25 and (cols.max(), rows.max()) == (4, 4)  # 101 x 100 px scene
    embeddings = np.stack([np.frombuffer(f[1]["embedding"], "<f4") for f in features])
    np.testing.assert_allclose(embeddings, reference_chips(hub["state"], s2[1], cols, rows, 32,
                                                          16), atol=1e-5)
    x0, px, _, y0, _, py = gdal.Open(str(s2[0])).GetGeoTransform()
    for (_, values, (xmin, xmax, ymin, ymax)) in features[:3]:
        assert xmin == pytest.approx(x0 + values["col"] * 16 * px)
        assert xmax == pytest.approx(x0 + (values["col"] * 16 + 32) * px)
        assert ymax == pytest.approx(y0 + values["row"] * 16 * py)
    dataset = ogr.Open(str(path))
    assert dataset.GetLayer("chips").GetSpatialRef().GetAuthorityCode(None) == "32633"
    dataset = None
    assert 'type="singleSymbol"' in path.with_suffix(".qml").read_text()


def test_text_search_of_the_index_ranks_like_brute_force_without_image_calls(hub, index,
                                                                            tmp_path):
    path, _ = index
    offline = {**hub["env"], "HF_HUB_OFFLINE": "1"}  # the pinned commit is reused from the cache
    result = run("text_search", f"INDEX={path}", f"QUERY={QUERY}", "TOP_K=6", "DEVICE=1",
                 f"OUTPUT={tmp_path / 'matches.gpkg'}",
                 f"OUTPUT_HEATMAP={tmp_path / 'heat.tif'}", env=offline)
    assert "the model embedded only the query, no image chip" in result.stdout + result.stderr
    chips, _ = read_layer(path, "chips")
    embeddings = np.stack([np.frombuffer(f[1]["embedding"], "<f4") for f in chips])
    text = reference_text_embeddings(hub["state"], reference_tokens([QUERY], 248))[0]
    cosine = embeddings @ text
    order = sorted(range(len(cosine)), key=lambda i: (-cosine[i], i))[:6]
    matches, meta = read_layer(tmp_path / "matches.gpkg", "matches")
    assert [m[1]["rank"] for m in matches] == [1, 2, 3, 4, 5, 6]
    assert [(m[1]["col"], m[1]["row"]) for m in matches] == [
        (chips[i][1]["col"], chips[i][1]["row"]) for i in order]
    np.testing.assert_allclose([m[1]["similarity"] for m in matches], cosine[order], atol=1e-5)
    assert [m[2] for m in matches] == [chips[i][2] for i in order]  # the chips' footprints
    assert meta["RSAI_QUERY"] == QUERY
    heat, ds = read(tmp_path / "heat.tif")
    assert heat.shape == (5, 5) and ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    np.testing.assert_allclose(heat[[c[1]["row"] for c in chips], [c[1]["col"] for c in chips]],
                               cosine, atol=1e-5)
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32633"
    assert 'type="graduatedSymbol"' in (tmp_path / "matches.qml").read_text()
    assert "singlebandpseudocolor" in (tmp_path / "heat.qml").read_text()


def test_zero_shot_of_the_index_is_softmax_of_scaled_cosine(hub, index, tmp_path):
    path, _ = index
    run("zero_shot_classify", f"INDEX={path}", f"LABELS={'|'.join(LABELS)}", "DEVICE=1",
        f"OUTPUT={tmp_path / 'classes.tif'}", f"OUTPUT_PROBABILITIES={tmp_path / 'p.tif'}",
        env=hub["env"])
    chips, _ = read_layer(path, "chips")
    embeddings = np.stack([np.frombuffer(f[1]["embedding"], "<f4") for f in chips])
    cols, rows = [c[1]["col"] for c in chips], [c[1]["row"] for c in chips]
    labels = reference_text_embeddings(hub["state"], reference_tokens(LABELS, 248))
    logits = float(hub["state"]["logit_scale"].exp()) * embeddings @ labels.T
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities, _ = read(tmp_path / "p.tif")
    np.testing.assert_allclose(probabilities[:, rows, cols].T, expected, atol=1e-5)
    classes, ds = read(tmp_path / "classes.tif")
    np.testing.assert_array_equal(classes[rows, cols], expected.argmax(axis=1))
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Byte
    qml = (tmp_path / "classes.qml").read_text()
    assert "paletted" in qml and all(f'label="{label}"' in qml for label in LABELS)


def test_200_token_query_runs_on_long_clip_and_is_reported_on_77(hub, s2, index, tmp_path):
    path, _ = index
    query = long_text(200)
    run("text_search", f"INDEX={path}", f"QUERY={query}", "TOP_K=3", "DEVICE=1",
        f"OUTPUT={tmp_path / 'long.gpkg'}", env=hub["env"])
    assert len(read_layer(tmp_path / "long.gpkg", "matches")[0]) == 3
    bad = run("text_search", f"INPUT={s2[0]}", *TRUE_COLOUR, "MODEL=tiny-77", f"QUERY={query}",
              "DEVICE=1", f"OUTPUT={tmp_path / 'short.gpkg'}", env=hub["env"], check=False)
    assert bad.returncode != 0
    assert "query 1 is 200 tokens long, but this model reads at most 77" in bad.stdout + bad.stderr
    assert not (tmp_path / "short.gpkg").exists()


def test_graphical_model_chains_embedding_into_text_search(hub, s2, tmp_path):
    model3 = EXAMPLE_MODELS / "clip_embed_then_search.model3"
    qgis_process("run", str(model3), "--", f"INPUT={s2[0]}", *TRUE_COLOUR, "MODEL=tiny-lrsclip",
                 f"QUERY={QUERY}", "TOP_K=4", f"embed:index={tmp_path / 'index.gpkg'}",
                 f"search:matches={tmp_path / 'matches.gpkg'}",
                 f"search:heatmap={tmp_path / 'heat.tif'}", env=hub["env"])
    chips, meta = read_layer(tmp_path / "index.gpkg", "chips")
    assert len(chips) == 9 and meta["RSAI_MODEL_ID"] == "tiny-lrsclip"  # 3 x 3 chips of 32 px
    embeddings = np.stack([np.frombuffer(f[1]["embedding"], "<f4") for f in chips])
    cosine = embeddings @ reference_text_embeddings(hub["state"],
                                                    reference_tokens([QUERY], 248))[0]
    matches, _ = read_layer(tmp_path / "matches.gpkg", "matches")
    np.testing.assert_allclose([m[1]["similarity"] for m in matches],
                               np.sort(cosine)[::-1][:4], atol=1e-5)
    assert read(tmp_path / "heat.tif")[0].shape == (3, 3)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


BAD = {
    "empty query": (("text_search", "INDEX={index}", "QUERY= ", "OUTPUT={out}.gpkg"),
                    "query 1 is empty"),
    "empty labels": (("zero_shot_classify", "INDEX={index}", "LABELS=|", "OUTPUT={out}.tif"),
                     "no labels given"),
    "one band, no BANDS": (("embed_image_chips", "INPUT={one_band}", "MODEL=tiny-lrsclip",
                            "OUTPUT={out}.gpkg"),
                           "expects 3 bands (red, green, blue) but the raster has 1"),
    "index of another model": (("text_search", "INDEX={index}", "MODEL=tiny-77",
                                "QUERY=forest", "OUTPUT={out}.gpkg"),
                               "was made with model tiny-lrsclip, not with tiny-77"),
    "chip larger than raster": (("embed_image_chips", "INPUT={s2}", *TRUE_COLOUR,
                                 "MODEL=tiny-lrsclip", "CHIP_SIZE=128", "OUTPUT={out}.gpkg"),
                                "CHIP_SIZE (128 px) is larger than the raster (100 x 101 px)"),
    "keys not matching": (("embed_image_chips", "INPUT={s2}", *TRUE_COLOUR, "MODEL={broken}",
                           "OUTPUT={out}.gpkg"), "missing keys text_projection, visual.proj"),
    "user's layer of the same name": (("embed_image_chips", "INPUT={s2}", *TRUE_COLOUR,
                                       "MODEL=tiny-lrsclip", "OUTPUT={user_gpkg}"),
                                      "already has a layer named 'chips' that this toolbox did "
                                      "not write"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_fails_clearly_leaves_nothing_and_keeps_inputs(hub, s2, index, tmp_path, case):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    one_band = write_geotiff(inputs / "one.tif", np.ones((1, 64, 64), np.uint8))
    state = tiny_state_dict(seed=3)
    del state["visual.proj"], state["text_projection"]
    broken = inputs / "broken.json"
    broken.write_text(json.dumps({**card("broken", LRSCLIP_REPO, LRSCLIP_FILE, 248),
                                  "weights": None,
                                  "local_weights": str(save_checkpoint(inputs / "broken.pt",
                                                                       state))}))
    user_gpkg = inputs / "survey.gpkg"
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(user_gpkg))
    dataset.CreateLayer("chips", geom_type=ogr.wkbPoint)
    dataset = None
    args, message = BAD[case]
    names = {"index": index[0], "s2": s2[0], "one_band": one_band, "broken": broken,
             "user_gpkg": user_gpkg, "out": tmp_path / "out"}
    watched = [index[0], s2[0], *inputs.iterdir()]
    before = {p: sha(p) for p in watched}
    result = run(args[0], *[a.format(**names) for a in args[1:]], "DEVICE=1", env=hub["env"],
                 check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert {p: sha(p) for p in watched} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]

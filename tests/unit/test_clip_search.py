"""Text search, zero-shot and the chip embedding index (models/clip): rankings equal brute-force
cosine rankings, probabilities equal softmax(scale x cosine), a stored index is searched with no
image model call, and index files are written without touching anything else."""
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr, osr

from rsai_toolbox.models import registry
from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.cards import load_card
from rsai_toolbox.models.clip.chips import ChipBatch, ChipGrid, ChipSet
from rsai_toolbox.models.clip.index import index_layer, read_index, write_chip_set
from rsai_toolbox.models.clip.model import load_clip_model
from rsai_toolbox.models.clip.queries import classify_chips, search_chips
from rsai_toolbox.models.clip.search import text_search, zero_shot_probabilities
from rsai_toolbox.models.errors import Cancelled, UserError
from rsai_toolbox.models.hub import WeightsStore
from rsai_toolbox.models.runtime.grids import Grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_clip import (long_clip_layout, reference_image_embeddings,  # noqa: E402
                          reference_text_embeddings, reference_tokens, save_checkpoint,
                          tiny_state_dict, write_card)
from hub_server import HubServer  # noqa: E402

GEOTRANSFORM = (500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0)
LABELS = ["farmland", "forest", "water", "residential area"]


def utm33() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return srs.ExportToWkt()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    state = long_clip_layout(tiny_state_dict(seed=5))
    weights = save_checkpoint(folder / "w.pt", state)
    model = load_clip_model(load_card(write_card(folder, "tiny-long-clip", local_weights=weights)),
                            weights, device="cpu")
    chips = np.random.default_rng(7).normal(size=(60, 3, 32, 32)).astype(np.float32)
    return state, model, chips


def chip_set(embeddings, per_row: int = 10, size: int = 32, model="tiny", sha="ab" * 32,
             crs=None) -> ChipSet:
    """Chips of ``size`` px side by side, ``per_row`` to a row, on a 10 m UTM grid."""
    count = len(embeddings)
    rows_needed = -(-count // per_row)
    grid = ChipGrid(Grid(per_row * size, rows_needed * size, GEOTRANSFORM,
                         utm33() if crs is None else crs), size, size, per_row, rows_needed)
    index = np.arange(count)
    return ChipSet(grid, index % per_row, index // per_row, np.asarray(embeddings), model, sha,
                   "test chips", {"BANDS": "1,2,3"})


def brute_force_ranking(index: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = [float(np.dot(row, query) / np.linalg.norm(row) / np.linalg.norm(query)) for row in index]
    return np.array(sorted(range(len(index)), key=lambda i: (-scores[i], i)))


# -- numpy search and zero-shot ------------------------------------------------------------------
def test_search_ranks_equal_brute_force_cosine_ranking():
    rng = np.random.default_rng(0)
    index = rng.normal(size=(2000, 24)).astype(np.float32)
    index /= np.linalg.norm(index, axis=1, keepdims=True)
    index[[10, 11, 12]] = index[3]  # exact ties keep row order
    query = index[3] + 0.01 * rng.normal(size=24).astype(np.float32)
    expected = brute_force_ranking(index, query)
    for k in (1, 4, 50, 2000, 5000):
        result = text_search(index, query, k)
        np.testing.assert_array_equal(result.rows, expected[:k])
        np.testing.assert_allclose(result.scores, index[expected[:k]] @ (query / np.linalg.norm(query)),
                                   atol=1e-6)
        assert list(result.ranks) == list(range(1, min(k, 2000) + 1))
    assert list(text_search(index, query, 4).rows) == [3, 10, 11, 12]
    with pytest.raises(UserError, match="TOP_K"):
        text_search(index, query, 0)
    with pytest.raises(UserError, match="different models"):
        text_search(index, np.ones(16, np.float32), 3)


def test_zero_shot_equals_softmax_of_scaled_cosine():
    rng = np.random.default_rng(1)
    index = rng.normal(size=(50, 8)).astype(np.float32)
    index /= np.linalg.norm(index, axis=1, keepdims=True)
    labels = rng.normal(size=(4, 8)).astype(np.float32) * 3  # not unit: cosine, not dot product
    cosine = index @ (labels / np.linalg.norm(labels, axis=1, keepdims=True)).T
    for scale in (1.0, 100.0):
        expected = np.exp(scale * cosine) / np.exp(scale * cosine).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(zero_shot_probabilities(index, labels, scale), expected, rtol=1e-5)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UserError, match="TEMPERATURE"):
            zero_shot_probabilities(index, labels, bad)


# -- the index file ------------------------------------------------------------------------------
def test_index_round_trip_keeps_embeddings_footprints_grid_and_provenance(tmp_path):
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(25, 16)).astype(np.float32)
    chips = chip_set(embeddings)
    path = tmp_path / "out" / "index.gpkg"
    write_chip_set(path, chips)
    index = read_index(path)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    np.testing.assert_allclose(index.embeddings, unit, atol=1e-7)
    assert (index.model_id, index.weights_sha256) == ("tiny", "ab" * 32)
    assert index.grid == chips.grid  # the chip grid, CRS included, comes back from the metadata
    assert index.settings == {"BANDS": "1,2,3"}
    np.testing.assert_array_equal(index.cols, chips.cols)
    np.testing.assert_array_equal(index.rows, chips.rows)
    dataset = ogr.Open(str(path))  # kept: GDAL 3.6 layers do not keep their dataset alive
    layer = dataset.GetLayer("chips")
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    for fid in (1, 14):
        feature = layer.GetFeature(fid)
        col, row = feature["col"], feature["row"]
        assert (col, row) == (chips.cols[fid - 1], chips.rows[fid - 1])
        x0, x1, y0, y1 = feature.GetGeometryRef().GetEnvelope()
        assert (x0, x1) == (500000 + 320 * col, 500000 + 320 * col + 320)
        assert (y0, y1) == (6000000 - 320 * row - 320, 6000000 - 320 * row)
    dataset = None
    assert not [p for p in path.parent.iterdir() if p.name != "index.gpkg"]

    half = tmp_path / "half.gpkg"
    write_chip_set(half, chip_set(embeddings, crs=""), dtype="float16")
    small = read_index(half)
    assert small.embeddings.dtype == np.float16 and small.grid.raster.crs == ""
    np.testing.assert_allclose(small.embeddings, unit, atol=1e-3)
    dataset = ogr.Open(str(half))
    assert len(dataset.GetLayer(0).GetNextFeature().GetFieldAsBinary("embedding")) == 16 * 2
    dataset = None


def test_index_is_added_beside_other_layers_and_replaces_only_its_own(tmp_path):
    path = tmp_path / "project.gpkg"
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    fields = dataset.CreateLayer("fields", geom_type=ogr.wkbPoint)
    fields.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    feature = ogr.Feature(fields.GetLayerDefn())
    feature["name"] = "keep me"
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (1 2)"))
    fields.CreateFeature(feature)
    dataset = None

    write_chip_set(path, chip_set(np.eye(5, 8, dtype=np.float32)))
    dataset = ogr.Open(str(path))
    assert sorted(dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())) == ["chips", "fields"]
    assert dataset.GetLayer("fields").GetNextFeature()["name"] == "keep me"
    assert read_index(path).embeddings.shape == (5, 8)  # the one index layer is found by itself
    dataset = None

    warnings = []
    write_chip_set(path, chip_set(np.eye(3, 8, dtype=np.float32), model="again"),
                   callbacks=Callbacks(warn=warnings.append))  # an earlier run's index: replaced
    assert read_index(path).model_id == "again" and len(read_index(path).cols) == 3
    assert any("replaced the layer 'chips'" in w for w in warnings)

    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UserError, match="already has a layer named 'fields' that this toolbox did "
                                        "not write.*never replaced"):
        write_chip_set(path, chip_set(np.eye(5, 8, dtype=np.float32)), layer="fields")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.gpkg"]
    with pytest.raises(UserError, match="not a chip embedding index"):
        read_index(path, "fields")
    with pytest.raises(UserError, match="no layer 'nope'"):
        read_index(path, "nope")


def test_cancelled_index_leaves_nothing_behind(tmp_path):
    chips = chip_set(np.random.default_rng(3).normal(size=(3000, 8)).astype(np.float32), 60)
    for path in (tmp_path / "new.gpkg", tmp_path / "existing.gpkg"):
        if path.name == "existing.gpkg":
            write_chip_set(path, chip_set(np.eye(2, 8, dtype=np.float32)), layer="first")
        before = path.read_bytes() if path.exists() else None
        with pytest.raises(Cancelled):
            with index_layer(path, chips.grid, "m", "ab" * 32, 8) as add:
                add(ChipBatch(chips.cols[:1000], chips.rows[:1000], chips.embeddings[:1000]))
                raise Cancelled("stopped")
        assert (path.read_bytes() if path.exists() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.gpkg"]


@pytest.mark.parametrize("problem", ["suffix", "dtype", "layer_name", "no_chips", "nan", "width"])
def test_bad_index_arguments_are_refused(tmp_path, problem):
    chips = chip_set(np.ones((4, 8), np.float32))
    kwargs = dict(path=tmp_path / "i.gpkg", chips=chips)
    if problem == "suffix":
        kwargs["path"] = tmp_path / "i.shp"
    elif problem == "dtype":
        kwargs["dtype"] = "int8"
    elif problem == "layer_name":
        kwargs["layer"] = "gpkg_contents"
    elif problem == "no_chips":
        kwargs["chips"] = chip_set(np.ones((0, 8), np.float32))
    elif problem == "nan":
        kwargs["chips"] = chip_set(np.full((4, 8), np.nan, np.float32))
    if problem == "width":
        with pytest.raises(ValueError):
            with index_layer(tmp_path / "i.gpkg", chips.grid, "m", "ab" * 32, 16) as add:
                add(ChipBatch(chips.cols, chips.rows, chips.embeddings))
    else:
        with pytest.raises(UserError):
            write_chip_set(**kwargs)
    assert list(tmp_path.iterdir()) == []


def test_reading_what_is_not_an_index_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist.*rsai:embed_image_chips"):
        read_index(tmp_path / "absent.gpkg")
    (tmp_path / "text.gpkg").write_text("not a geopackage")
    with pytest.raises(UserError, match="not a GeoPackage GDAL can open"):
        read_index(tmp_path / "text.gpkg")
    damaged = tmp_path / "damaged.gpkg"
    for key, value in (("RSAI_EMBEDDING_DIM", ""), ("RSAI_RASTER_GEOTRANSFORM", "1,2")):
        write_chip_set(damaged, chip_set(np.ones((2, 8), np.float32)))
        dataset = ogr.Open(str(damaged), update=1)
        dataset.GetLayer(0).SetMetadataItem(key, value)
        dataset = None
        with pytest.raises(UserError, match="metadata of .* is incomplete or damaged"):
            read_index(damaged)


# -- with a model: search and classify a stored index --------------------------------------------
def test_stored_index_is_searched_and_classified_with_no_image_model_call(tiny, tmp_path):
    state, model, chips = tiny
    embeddings = model.embed_images(chips)
    np.testing.assert_allclose(embeddings, reference_image_embeddings(state, chips), atol=1e-5)
    path = tmp_path / "index.gpkg"
    write_chip_set(path, chip_set(embeddings, model=model.model_id, sha=model.weights_sha256))

    image_calls = []
    hook = model.network.visual.register_forward_hook(lambda *a: image_calls.append(1))
    logs = []
    try:
        index = read_index(path)
        query = "a dense residential area with red roofs beside a river bend"
        ranking = search_chips(index, model, query, top_k=10, callbacks=Callbacks(log=logs.append))
        probabilities = classify_chips(index, model, LABELS, callbacks=Callbacks(log=logs.append))
        hot = classify_chips(index, model, LABELS, temperature=1.0)
    finally:
        hook.remove()
    assert image_calls == []
    assert any("the model embedded only the query, no image chip" in m for m in logs)

    text = reference_text_embeddings(state, reference_tokens([query], 248))[0]
    expected = brute_force_ranking(reference_image_embeddings(state, chips), text)
    np.testing.assert_array_equal(ranking.best.rows, expected[:10])
    np.testing.assert_allclose(ranking.scores, reference_image_embeddings(state, chips) @ text,
                               atol=1e-5)

    labels = reference_text_embeddings(state, reference_tokens(LABELS, 248))
    cosine = reference_image_embeddings(state, chips) @ labels.T
    scale = float(state["logit_scale"].exp())
    for got, temperature in ((probabilities, scale), (hot, 1.0)):
        expected_p = np.exp(temperature * cosine)
        expected_p /= expected_p.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got, expected_p, atol=1e-5)


def test_index_of_another_model_and_bad_labels_are_refused(tiny, tmp_path):
    _, model, chips = tiny
    embeddings = model.embed_images(chips[:4])
    path = tmp_path / "other.gpkg"
    write_chip_set(path, chip_set(embeddings, model="remoteclip-vit-b-32", sha="cd" * 32))
    with pytest.raises(UserError, match="made with model remoteclip-vit-b-32.*not with tiny-long-clip"):
        search_chips(read_index(path), model, "farmland", 3)
    same_id = tmp_path / "same_id.gpkg"  # same card id, other weights: refused too
    write_chip_set(same_id, chip_set(embeddings, model=model.model_id, sha="cd" * 32))
    with pytest.raises(UserError, match="weights sha256 cdcdcdcdcdcd"):
        classify_chips(read_index(same_id), model, LABELS)
    ours = chip_set(embeddings, model=model.model_id, sha=model.weights_sha256)
    for labels, message in (([], "no labels"), (["", "  "], "no labels"),
                            (["farmland", ""], "label 2 of 2 is empty"),
                            (["farmland"], "only one label"),
                            (["forest", "water", "forest"], "'forest' are given twice")):
        with pytest.raises(UserError, match=message):
            classify_chips(ours, model, labels)
    with pytest.raises(UserError, match="empty"):
        search_chips(ours, model, "  ", 3)


# -- the LRSCLIP card's download path ----------------------------------------------------------
def test_lrsclip_checkpoint_through_the_hub_pins_its_commit(tmp_path):
    """The LRSCLIP card's source (open revision) fetched from a Hub-compatible server with the
    real huggingface_hub client, then loaded: commit and sha256 are pinned on first use."""
    lrsclip = registry.list_cards()["lrsclip-vit-b-16"].weights
    state = long_clip_layout(tiny_state_dict(seed=9))
    data_path = save_checkpoint(tmp_path / "upload" / lrsclip.filename, state)
    commit = "c0ffee" + "0" * 34
    cards = tmp_path / "cards"
    write_card(cards, "tiny-lrsclip", weights={"repo_id": lrsclip.repo_id, "revision": None,
                                               "filename": lrsclip.filename, "sha256": None})
    logs = []
    with HubServer(tmp_path / "hub") as server:
        server.add_file(lrsclip.repo_id, commit, lrsclip.filename, data_path.read_bytes())
        store = WeightsStore(tmp_path / "cache", log=logs.append, endpoint=server.endpoint)
        resolved = registry.resolve("tiny-lrsclip", store, [cards], tasks=("embedding",))
        requests = server.count()
        again = registry.resolve("tiny-lrsclip", WeightsStore(tmp_path / "cache", offline=True),
                                 [cards], tasks=("embedding",))
        assert server.count() == requests and again.weights == resolved.weights
    assert any(commit in m and "pinned" in m for m in logs)
    model = load_clip_model(resolved.card, resolved.weights, device="cpu")
    chips = np.random.default_rng(4).normal(size=(3, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(model.embed_images(chips), reference_image_embeddings(state, chips),
                               atol=1e-5)
    assert model.weights_sha256 == hashlib.sha256(data_path.read_bytes()).hexdigest()
    with pytest.raises(UserError, match="not cached and this machine is offline.*rsai:download_model"):
        registry.resolve("lrsclip-vit-b-16", WeightsStore(tmp_path / "empty", offline=True))

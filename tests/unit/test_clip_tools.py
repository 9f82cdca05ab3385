"""The CLIP tools' core (models/clip/tools.py) on real rasters with a tiny CLIP of the real
architecture: every chip embedded through the engine equals the model applied to that chip
directly; searches and zero-shot classes equal brute force on the reference embeddings; bad
input is refused before any model is loaded, leaving no output and the inputs untouched."""
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.cards import load_card
from rsai_toolbox.models.clip import tools
from rsai_toolbox.models.clip.chips import ChipOptions
from rsai_toolbox.models.clip.index import read_index
from rsai_toolbox.models.clip.model import load_clip_model
from rsai_toolbox.models.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import landcover_scene, read, write_geotiff  # noqa: E402
from helpers_clip import (CLIP_MEAN, CLIP_STD, long_clip_layout, long_text,  # noqa: E402
                          reference_image_embeddings, reference_text_embeddings,
                          reference_tokens, save_checkpoint, tiny_state_dict, write_card)

GT = (500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0)
LABELS = ["forest", "water", "residential area"]


class CountingModels:
    """tools.Models over test cards, counting loads and image-tower calls."""

    def __init__(self, cards: dict, weights: dict):
        self.cards, self.weights = cards, weights
        self.loads, self.image_calls, self.image_chips = 0, 0, 0
        self._loaded = {}

    def card(self, reference):
        if reference not in self.cards:
            raise UserError(f"no model card with id {reference!r}")
        return self.cards[reference]

    def load(self, card):
        self.loads += 1
        if card.id not in self._loaded:
            model = load_clip_model(card, self.weights[card.id], device="cpu")
            model.network.visual.register_forward_hook(lambda m, inputs, out: self._count(inputs))
            self._loaded[card.id] = model
        return self._loaded[card.id]

    def _count(self, inputs):
        self.image_calls += 1
        self.image_chips += len(inputs[0])

    @property
    def access(self):
        return tools.Models(self.card, self.load)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    state = long_clip_layout(tiny_state_dict(seed=11))
    short_state = tiny_state_dict(seed=12, context_length=77)
    weights = {"tiny-long": save_checkpoint(folder / "long.pt", state),
               "tiny-77": save_checkpoint(folder / "short.pt", short_state)}
    cards = {"tiny-long": load_card(write_card(folder, "tiny-long")),
             "tiny-77": load_card(write_card(folder, "tiny-77", context_length=77))}
    return state, cards, weights


@pytest.fixture
def models(clip):
    _, cards, weights = clip
    return CountingModels(cards, weights)


def rgb_raster(path, height=100, width=90, seed=0, nodata_block=True, nodata_from=70):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (3, height, width)).astype(np.uint8)
    image[:, 40:70, 20:60] = np.array([40, 120, 60])[:, None, None]  # a flat field
    if nodata_block:
        image[:, :, nodata_from:] = 0  # a nodata strip: chips over it are mostly nodata
    write_geotiff(path, image, GT, nodata=0 if nodata_block else None)
    return image


def normalised(chip, white):
    """What the model sees for a (3, h, w) chip of raw values: scaled, clipped, CLIP mean/std."""
    x = np.clip(chip.astype(np.float64) / white, 0, 1)
    mean, std = np.array(CLIP_MEAN)[:, None, None], np.array(CLIP_STD)[:, None, None]
    return ((x - mean) / std).astype(np.float32)


def expected_embeddings(state, image, cols, rows, chip, stride, white):
    chips = np.stack([normalised(image[:, r * stride:r * stride + chip, c * stride:c * stride + chip],
                                 white) for c, r in zip(cols, rows)])
    return reference_image_embeddings(state, chips)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- embedding through the engine ----------------------------------------------------------------
def test_each_chip_equals_the_model_on_that_chip_and_nodata_chips_are_left_out(clip, models,
                                                                              tmp_path):
    state = clip[0]
    tif = tmp_path / "rgb.tif"
    image = rgb_raster(tif, nodata_from=60)
    logs = []
    count = tools.embed_image_chips(models.access, "tiny-long", str(tif),
                                    ChipOptions(stride=16), str(tmp_path / "index.gpkg"),
                                    batch_size=3, callbacks=Callbacks(log=logs.append))
    index = read_index(tmp_path / "index.gpkg")
    grid = index.grid
    assert (grid.chip, grid.stride, grid.cols, grid.rows) == (32, 16, 4, 5)
    real = (image != 0).all(axis=0)  # nodata 0 in any band
    expected_valid = [(c, r) for r in range(5) for c in range(4)
                      if real[r * 16:r * 16 + 32, c * 16:c * 16 + 32].mean() >= 0.5]
    assert 0 < len(expected_valid) < 20  # the strip on the right leaves chips out
    assert count == len(index.cols) == len(expected_valid)
    assert list(zip(index.cols, index.rows)) == expected_valid
    expected = []
    for c, r in expected_valid:  # nodata pixels of a chip take its real pixels' band means
        window = (slice(None), slice(r * 16, r * 16 + 32), slice(c * 16, c * 16 + 32))
        mask, patch = real[window[1:]], image[window].astype(np.float64)
        for band in patch:
            band[~mask] = band[mask].mean()
        expected.append(reference_image_embeddings(state, normalised(patch, 255.0)[None]))
    expected = np.concatenate(expected)
    np.testing.assert_allclose(index.embeddings, expected, atol=1e-5)
    assert index.settings["WHITE_VALUE"] == "255.0" and index.settings["BANDS"] == "1,2,3"
    assert any("8-bit raster, 255 is white" in m for m in logs)


def test_left_out_chips_are_never_given_to_the_model(clip, models, tmp_path):
    tif = tmp_path / "rgb.tif"
    image = rgb_raster(tif, height=64, width=128)
    tools.embed_image_chips(models.access, "tiny-long", str(tif), ChipOptions(),
                            str(tmp_path / "index.gpkg"), batch_size=64)
    # 4 x 2 chips of 32 px; the nodata strip starts at x = 70: chips at x = 64 are 6/32 real,
    # those at x = 96 are all nodata, so only the 2 x 2 chips on the left are embedded.
    assert image[:, :, 70:].max() == 0
    index = read_index(tmp_path / "index.gpkg")
    assert len(index.cols) == 4 and set(index.cols) == {0, 1}
    assert models.image_chips == 4  # the model saw those 4 chips and no other


def test_reflectance_is_stretched_by_its_99th_percentile_and_clipped(clip, models, tmp_path,
                                                                    shared_data):
    state = clip[0]
    scene = landcover_scene(shared_data, 2)
    rgb = scene[[3, 2, 1]]  # B04, B03, B02
    tif = write_geotiff(tmp_path / "s2.tif", scene, descriptions=[f"B{i}" for i in range(13)])
    logs = []
    tools.embed_image_chips(models.access, "tiny-long", str(tif), ChipOptions(bands=[4, 3, 2]),
                            str(tmp_path / "index.gpkg"), callbacks=Callbacks(log=logs.append))
    index = read_index(tmp_path / "index.gpkg")
    white = max(np.percentile(band, 99) for band in rgb.astype(np.float64))
    assert float(index.settings["WHITE_VALUE"]) == pytest.approx(white, rel=1e-6)
    assert (index.grid.cols, index.grid.rows) == (3, 3)
    np.testing.assert_allclose(index.embeddings, expected_embeddings(
        state, rgb, index.cols, index.rows, 32, 32, white), atol=1e-5)
    assert any("99th percentile" in m and "STRETCH_MAX" in m for m in logs)

    tools.embed_image_chips(models.access, "tiny-long", str(tif),
                            ChipOptions(bands=[4, 3, 2], stretch_max=0.3),
                            str(tmp_path / "fixed.gpkg"))
    fixed = read_index(tmp_path / "fixed.gpkg")
    np.testing.assert_allclose(fixed.embeddings, expected_embeddings(
        state, rgb, fixed.cols, fixed.rows, 32, 32, 0.3), atol=1e-5)


def test_mask_in_another_crs_keeps_the_chips_whose_centre_is_inside(clip, models, tmp_path):
    tif = tmp_path / "rgb.tif"
    rgb_raster(tif, height=96, width=96, nodata_block=False)
    # A polygon over the chip centres of columns 1-2 in rows 0-1 (chip centres at 16, 48,
    # 80 px = 160, 480, 800 m from the corner), written in WGS 84.
    x0, x1, y0, y1 = GT[0] + 300, GT[0] + 900, GT[3] - 600, GT[3] - 10
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    polygon = ogr.CreateGeometryFromWkt(
        f"POLYGON (({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))")
    polygon.Segmentize(20)
    polygon.Transform(osr.CoordinateTransformation(utm, wgs))
    mask = tmp_path / "mask.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(mask))
    layer = ds.CreateLayer("area", wgs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(polygon)
    layer.CreateFeature(feature)
    ds = None
    tools.embed_image_chips(models.access, "tiny-long", str(tif),
                            ChipOptions(mask=(str(mask), "area")), str(tmp_path / "index.gpkg"))
    index = read_index(tmp_path / "index.gpkg")
    assert sorted(zip(index.cols, index.rows)) == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_resolution_resamples_the_raster_by_block_averages(clip, models, tmp_path):
    state = clip[0]
    tif = tmp_path / "rgb.tif"
    image = rgb_raster(tif, height=128, width=128, nodata_block=False)
    tools.embed_image_chips(models.access, "tiny-long", str(tif), ChipOptions(resolution=20.0),
                            str(tmp_path / "index.gpkg"))
    index = read_index(tmp_path / "index.gpkg")
    assert (index.grid.raster.width, index.grid.raster.height) == (64, 64)
    assert index.grid.raster.geotransform == (GT[0], 20.0, 0.0, GT[3], 0.0, -20.0)
    assert index.settings["RESOLUTION"] == "20.0"
    averaged = image.astype(np.float64).reshape(3, 64, 2, 64, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(index.embeddings, expected_embeddings(
        state, averaged, index.cols, index.rows, 32, 32, 255.0), atol=1e-5)


def test_chip_size_other_than_the_models_is_resized(clip, models, tmp_path):
    tif = tmp_path / "rgb.tif"
    rgb_raster(tif, nodata_block=False)
    logs = []
    tools.embed_image_chips(models.access, "tiny-long", str(tif),
                            ChipOptions(chip_size=48, stride=24), str(tmp_path / "index.gpkg"),
                            callbacks=Callbacks(log=logs.append))
    index = read_index(tmp_path / "index.gpkg")
    assert (index.grid.chip, index.grid.cols, index.grid.rows) == (48, 2, 3)
    assert any("resized to the model's 32 px" in m for m in logs)


# -- searches ------------------------------------------------------------------------------------
@pytest.fixture
def index(clip, models, tmp_path):
    tif = tmp_path / "rgb.tif"
    rgb_raster(tif, nodata_block=False)
    path = tmp_path / "index.gpkg"
    tools.embed_image_chips(models.access, "tiny-long", str(tif), ChipOptions(stride=16),
                            str(path))
    return tif, path


def test_search_of_a_stored_index_ranks_by_cosine_and_embeds_no_chip(clip, models, index,
                                                                    tmp_path):
    state = clip[0]
    tif, path = index
    chips = read_index(path)
    calls_before = models.image_calls
    logs = []
    query = "a dense residential area with red roofs beside a river bend"
    count = tools.text_search(models.access, "", tools.ChipSource(index=(str(path), None)), query,
                              5, str(tmp_path / "matches.gpkg"), str(tmp_path / "heat.tif"),
                              callbacks=Callbacks(log=logs.append))
    assert count == 5 and models.image_calls == calls_before
    assert any("the model embedded only the query, no image chip" in m for m in logs)
    text = reference_text_embeddings(state, reference_tokens([query], 248))[0]
    cosine = chips.embeddings @ text
    order = sorted(range(len(cosine)), key=lambda i: (-cosine[i], i))[:5]
    ds = ogr.Open(str(tmp_path / "matches.gpkg"))
    layer = ds.GetLayer("matches")
    got = [(f["rank"], f["similarity"], f["col"], f["row"]) for f in layer]
    assert [g[0] for g in got] == [1, 2, 3, 4, 5]
    assert [(g[2], g[3]) for g in got] == [(chips.cols[i], chips.rows[i]) for i in order]
    np.testing.assert_allclose([g[1] for g in got], cosine[order], atol=1e-5)
    assert layer.GetMetadataItem("RSAI_QUERY") == query
    ds = None
    heat, heat_ds = read(tmp_path / "heat.tif")
    assert heat_ds.GetGeoTransform() == pytest.approx((GT[0] + 80, 160, 0, GT[3] - 80, 0, -160))
    np.testing.assert_allclose(heat[chips.rows, chips.cols], cosine, atol=1e-5)
    assert heat_ds.GetRasterBand(1).DataType == gdal.GDT_Float32


def test_zero_shot_classes_are_the_argmax_of_softmax_of_scaled_cosine(clip, models, index,
                                                                      tmp_path):
    state = clip[0]
    tif, path = index
    chips = read_index(path)
    for temperature in (None, 2.0):
        out, probs = tmp_path / f"classes_{temperature}.tif", tmp_path / f"p_{temperature}.tif"
        tools.zero_shot_classify(models.access, "tiny-long", tools.ChipSource(
            index=(str(path), "chips")), LABELS, temperature, str(out), str(probs))
        labels = reference_text_embeddings(state, reference_tokens(LABELS, 248))
        scale = float(state["logit_scale"].exp()) if temperature is None else temperature
        logits = scale * chips.embeddings @ labels.T
        expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        got, ds = read(probs)
        np.testing.assert_allclose(got[:, chips.rows, chips.cols].T, expected, atol=1e-5)
        classes, cds = read(out)
        np.testing.assert_array_equal(classes[chips.rows, chips.cols], expected.argmax(axis=1))
        band = cds.GetRasterBand(1)
        assert band.GetDescription() == "class"  # also loads the .aux.xml (GDAL reads it lazily)
        assert band.GetCategoryNames()[:3] == LABELS and band.GetNoDataValue() == 255
        assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(3)] == [
            f"P({label})" for label in LABELS]


def test_on_the_fly_search_equals_the_search_of_the_index(clip, models, index, tmp_path):
    tif, path = index
    source = tools.ChipSource(raster=str(tif), options=ChipOptions(stride=16))
    tools.text_search(models.access, "tiny-long", source, "forest", 20,
                      str(tmp_path / "fly.gpkg"), str(tmp_path / "fly.tif"))
    tools.text_search(models.access, "", tools.ChipSource(index=(str(path), None)), "forest", 20,
                      str(tmp_path / "stored.gpkg"), str(tmp_path / "stored.tif"))
    np.testing.assert_allclose(read(tmp_path / "fly.tif")[0], read(tmp_path / "stored.tif")[0],
                               atol=1e-6)


def test_200_token_query_runs_on_long_clip_and_is_refused_on_77_before_loading(clip, models,
                                                                               index, tmp_path):
    tif, path = index
    query = long_text(200)
    tools.text_search(models.access, "", tools.ChipSource(index=(str(path), None)), query, 3,
                      str(tmp_path / "long.gpkg"))
    loads = models.loads
    source = tools.ChipSource(raster=str(tif))
    with pytest.raises(UserError, match="query 1 is 200 tokens long, but this model reads at "
                                        "most 77.*lrsclip-vit-b-16"):
        tools.text_search(models.access, "tiny-77", source, query, 3, str(tmp_path / "s.gpkg"))
    assert models.loads == loads and not (tmp_path / "s.gpkg").exists()


# -- bad input -----------------------------------------------------------------------------------
def bad_cases(tmp_path, tif, path):
    one_band = write_geotiff(tmp_path / "one.tif", np.ones((1, 64, 64), np.uint8), GT)
    small = write_geotiff(tmp_path / "small.tif", np.ones((3, 20, 40), np.uint8), GT)
    out = str(tmp_path / "out.gpkg")
    index = tools.ChipSource(index=(str(path), None))
    return {
        "empty query": (lambda m: tools.text_search(m, "", index, "   ", 3, out),
                        "query 1 is empty"),
        "empty labels": (lambda m: tools.zero_shot_classify(
            m, "", index, [""], None, str(tmp_path / "c.tif")), "no labels given"),
        "one band": (lambda m: tools.embed_image_chips(m, "tiny-long", str(one_band),
                                                       ChipOptions(), out),
                     "expects 3 bands.*the raster has 1.*BANDS"),
        "chip larger than raster": (lambda m: tools.embed_image_chips(
            m, "tiny-long", str(small), ChipOptions(), out),
            r"CHIP_SIZE \(32 px\) is larger than the raster \(40 x 20 px\).*at most 20"),
        "stride larger than chip": (lambda m: tools.embed_image_chips(
            m, "tiny-long", str(tif), ChipOptions(stride=40), out), "STRIDE .* at most 32"),
        "index of another model": (lambda m: tools.text_search(
            m, "tiny-77", index, "forest", 3, out),
            "made with model tiny-long, not with tiny-77.*Leave MODEL empty"),
        "index and input": (lambda m: tools.text_search(m, "", tools.ChipSource(
            index=(str(path), None), raster=str(tif)), "forest", 3, out), "not both"),
        "output is the input": (lambda m: tools.text_search(
            m, "", index, "forest", 3, str(path)), "already has a layer named 'matches'|same file"),
        "temperature": (lambda m: tools.zero_shot_classify(
            m, "", index, ["a", "b"], -1.0, str(tmp_path / "c.tif")), "TEMPERATURE"),
    }


@pytest.mark.parametrize("case", ["empty query", "empty labels", "one band",
                                  "chip larger than raster", "stride larger than chip",
                                  "index of another model", "index and input",
                                  "output is the input", "temperature"])
def test_bad_input_is_refused_before_loading_with_nothing_written(clip, models, index, tmp_path,
                                                                 case):
    tif, path = index
    bad = tmp_path / "bad"
    bad.mkdir()
    call, message = bad_cases(bad, tif, path)[case]
    inputs = [p for p in (tif, path, *bad.iterdir())]
    before = {p: sha(p) for p in inputs}
    loads = models.loads
    with pytest.raises(UserError, match=message):
        call(models.access)
    assert models.loads == loads  # refused before any model was loaded
    assert {p: sha(p) for p in inputs} == before
    assert sorted(bad.iterdir()) == sorted(p for p in inputs if p.parent == bad)


def test_checkpoint_keys_not_matching_name_the_first_missing_keys(clip, tmp_path):
    _, cards, _ = clip
    state = tiny_state_dict(seed=3)
    del state["visual.proj"], state["text_projection"]
    broken = CountingModels(cards, {"tiny-long": save_checkpoint(tmp_path / "w.pt", state)})
    tif = tmp_path / "rgb.tif"
    rgb_raster(tif)
    with pytest.raises(UserError, match="missing keys text_projection, visual.proj"):
        tools.embed_image_chips(broken.access, "tiny-long", str(tif), ChipOptions(),
                                str(tmp_path / "index.gpkg"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.tif", "w.pt"]


def test_cancel_stops_the_embedding_and_leaves_no_index(clip, models, tmp_path):
    from rsai_toolbox.models.errors import Cancelled

    tif = tmp_path / "rgb.tif"
    rgb_raster(tif, nodata_block=False)
    project = tmp_path / "project.gpkg"
    tools.embed_image_chips(models.access, "tiny-long", str(tif), ChipOptions(), str(project),
                            layer="first")
    before = sha(project)
    progress = []
    with pytest.raises(Cancelled):
        tools.embed_image_chips(models.access, "tiny-long", str(tif), ChipOptions(stride=16),
                                str(project), layer="second", callbacks=Callbacks(
                                    progress=progress.append,
                                    is_cancelled=lambda: len(progress) > 1))
    assert sha(project) == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "project.gpkg", "rgb.tif"]

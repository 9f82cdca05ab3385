"""Pansharpening on the engine: ADWM streamed tile by tile from the files (no whole-image read),
the sensor taken from the metadata, the quality table's direction column."""
import csv

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models import cards
from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.pansharpening import quality, rasters
from rsai_toolbox.models.runtime.raster import FLOAT_NODATA

from helpers import write_geotiff
from helpers_pansharpening import WV_BANDS, geotransform, load_pair, write_pair

CARDS = cards.__file__.replace("cards.py", "cards")


def _card(name):
    return cards.load_card(f"{CARDS}/{name.replace('_', '-')}.json")


@pytest.fixture(scope="module")
def wv3(shared_data, tmp_path_factory):
    return write_pair(shared_data, "WV3", tmp_path_factory.mktemp("wv3"))


@pytest.mark.parametrize("name,tile,tiles,tolerance", [
    ("adwm_fusionnet", 32, 16, 0.2), ("adwm_lgpnet", 64, 4, 0.2), ("adwm_lagconv", 64, 4, 1e-3)])
def test_adwm_streams_tiles_from_the_files_and_equals_the_whole_image_run(
        name, tile, tiles, tolerance, wv3, shared_data, tmp_path):
    """The tool's path reads each tile's windows from the files (the card's halo as context,
    statistics gathered over the tiles by the fit hook): several tiles give the untiled
    network's output within float32 rounding (FusionNet, LGPNet) or 1e-3 DN (LAGConv, float64),
    and so does a run in one tile."""
    torch = pytest.importorskip("torch")
    from rsai_toolbox.models.pansharpening import adwm
    model = adwm.load_adwm(name, shared_data / "pansharpening" / "adwm_weights" /
                           adwm.RELEASED_WEIGHTS[name])
    ms, pan = load_pair(shared_data, "WV3")
    with torch.inference_mode():
        expected = adwm.pansharpen_adwm(model, ms, pan)
    pair = rasters.open_pair(str(wv3[0]), str(wv3[1]))
    warnings = []
    quiet = Callbacks(log=lambda _: None, warn=warnings.append)
    for size, count in ((tile, tiles), (None, 1)):
        out = tmp_path / f"{name}_{size}.tif"
        result = rasters.pansharpen_deep(pair, model, _card(name), str(out), 2047.0, tile=size,
                                         callbacks=quiet)
        assert result.tiles == count
        fused = gdal.Open(str(out)).ReadAsArray()
        assert np.abs(fused - expected).max() < tolerance, (name, size)
    # the clamping warning counts each pixel once, however the image is tiled
    assert len(warnings) == 2 and warnings[0] == warnings[1]


def test_adwm_nodata_streamed_is_nodata_and_left_out_of_the_statistics(wv3, shared_data,
                                                                       tmp_path):
    """An MS with a nodata border: nodata in the output exactly there, the rest equal to the
    in-memory run that leaves the border out of the statistics the same way."""
    torch = pytest.importorskip("torch")
    from rsai_toolbox.models.pansharpening import adwm
    name = "adwm_fusionnet"
    model = adwm.load_adwm(name, shared_data / "pansharpening" / "adwm_weights" /
                           adwm.RELEASED_WEIGHTS[name])
    ms, pan = load_pair(shared_data, "WV3")
    framed = ms.copy()
    framed[:, :3] = 0
    ms_path = write_geotiff(tmp_path / "ms.tif", framed.astype(np.uint16), geotransform(2.0),
                            nodata=0, descriptions=WV_BANDS)
    with torch.inference_mode():
        expected = adwm.pansharpen_adwm(model, np.where(framed == 0, np.nan, framed), pan)
    out = tmp_path / "out.tif"
    result = rasters.pansharpen_deep(rasters.open_pair(str(wv3[0]), str(ms_path)), model,
                                     _card(name), str(out), 2047.0, tile=32,
                                     callbacks=Callbacks(log=lambda _: None,
                                                         warn=lambda _: None))
    assert result.tiles == 16
    fused = gdal.Open(str(out)).ReadAsArray()
    border = np.zeros(pan.shape, bool)
    border[:12] = True
    assert (fused[:, border] == FLOAT_NODATA).all() and (fused[:, ~border] != FLOAT_NODATA).all()
    assert np.abs(fused[:, ~border] - expected[:, ~border]).max() < 0.2


# --------------------------------------------------------------------------- sensor
def _pair_with_metadata(tmp_path, satellite, bands=8):
    ms = np.full((bands, 8, 8), 300, np.uint16)
    ms_path = write_geotiff(tmp_path / "ms.tif", ms, geotransform(2.0))
    if satellite:
        ds = gdal.Open(str(ms_path), gdal.GA_Update)
        ds.SetMetadataItem("SATELLITEID", satellite, "IMAGERY")
        ds = None
    pan_path = write_geotiff(tmp_path / "pan.tif", np.full((1, 32, 32), 300, np.uint16),
                             geotransform(0.5))
    return rasters.open_pair(str(pan_path), str(ms_path))


def test_auto_sensor_comes_from_the_metadata(tmp_path):
    warnings = []
    callbacks = Callbacks(log=lambda _: None, warn=warnings.append)
    pair = _pair_with_metadata(tmp_path, "WV02")
    assert rasters.resolve_sensor("auto", pair, callbacks) == "WV2" and not warnings
    # a chosen sensor is kept, but the metadata's other answer is said
    assert rasters.resolve_sensor("WV3", pair, callbacks) == "WV3"
    assert len(warnings) == 1 and "the metadata name WV2" in warnings[0]


def test_auto_sensor_without_metadata_warns_and_band_count_mismatch_warns(tmp_path):
    warnings = []
    callbacks = Callbacks(log=lambda _: None, warn=warnings.append)
    pair = _pair_with_metadata(tmp_path, None)
    assert rasters.resolve_sensor("auto", pair, callbacks) == "WV3"
    assert len(warnings) == 1 and "metadata name no sensor; running as WV3" in warnings[0]
    assert rasters.resolve_sensor("QB", pair, callbacks) == "QB"
    assert len(warnings) == 2 and "SENSOR QB has 4 MS bands but the MS has 8" in warnings[1]
    assert rasters.resolve_sensor("WV2", pair, callbacks) == "WV2" and len(warnings) == 2


# --------------------------------------------------------------------------- quality table
def test_quality_table_says_which_way_is_better(tmp_path):
    indices = {"D_lambda": 0.02, "D_s": 0.05, "QNR": 0.93, "SAM": 3.1, "ERGAS": 2.5, "Q2n": 0.9}
    path = quality.write_table(str(tmp_path / "q.csv"), indices, {"protocol": "test"})
    rows = {row["index"]: row for row in csv.DictReader(path.open())}
    assert {k: rows[k]["better"] for k in indices} == {
        "D_lambda": "toward 0", "D_s": "toward 0", "QNR": "toward 1", "SAM": "toward 0",
        "ERGAS": "toward 0", "Q2n": "toward 1"}
    html = quality.write_table(str(tmp_path / "q.html"), indices, {}).read_text()
    assert "<th>better</th>" in html and "<td>QNR</td><td>0.930000</td><td>toward 1</td>" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.csv", "q.html"]  # no partial files


@pytest.mark.parametrize("name", ["adwm_fusionnet", "adwm_lagconv", "adwm_lgpnet"])
def test_adwm_cards_tiling_gives_each_network_its_halo(name):
    """The card is the truth the tool tiles by: context (overlap / 2) each side equals the
    receptive halo the network declares (which the in-memory tiled driver uses), tiles cut at
    the raster's edge, MS at ratio 4."""
    pytest.importorskip("torch")
    from rsai_toolbox.models.pansharpening import adwm
    card = _card(name)
    assert card.tiling.edge == "clip" and card.tiling.blend == "crop"
    assert card.tiling.overlap == 2 * adwm.build_adwm(name).halo
    assert [(s.name, s.ratio) for s in card.inputs] == [("pan", 1), ("ms", 4)]

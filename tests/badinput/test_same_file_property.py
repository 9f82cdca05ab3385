"""Property-style checks of the one same-file rule (models/paths.py): any two random spellings of
one file are the same file, and of two different files never, so every combination of inputs
and outputs that points at one file is refused. Seeded random (hypothesis is not installed)."""

import os
import random

import pytest

from rsai_toolbox.models import paths
from rsai_toolbox.models.errors import UserError

ROUNDS = 300


def spellings(folder, name, linked_folder, rng):
    """Ways to write folder/name (folder/name exists, or not)."""
    full = folder / name
    quoted = str(full).replace("'", "''")  # QGIS doubles quotes in dbname='...'
    relative = os.path.relpath(full)
    forms = [str(full), relative, f"./{relative}", str(folder / "a" / ".." / name),
             str(folder) + "//" + name, f"file://{full}", str(linked_folder / name),
             f"{full}|layername=layer{rng.randrange(9)}",
             f"ogr:dbname='{quoted}' table=\"t{rng.randrange(9)}\" (geom)",
             f"GPKG:{full}:layer{rng.randrange(9)}", f'GPKG:"{full}":x',
             f"dbname='{quoted}' table=\"x\"", f"  {full}  "]
    if name.endswith(".zip"):
        forms.append(f"/vsizip/{full}/inner/b.tif")
    return forms


@pytest.fixture
def tree(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    (folder / "a").mkdir(parents=True)
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return folder, tmp_path / "link"


NAMES = ["in.tif", "fields.gpkg", "model.json", "report.html", "scene.zip", "b c'd.tif"]


@pytest.mark.parametrize("exists", [True, False])
def test_any_two_spellings_of_one_file_are_the_same(tree, exists):
    folder, linked = tree
    rng = random.Random(1234 + exists)
    for name in NAMES:
        if exists:
            (folder / name).write_bytes(b"x")
    for _ in range(ROUNDS):
        name = rng.choice(NAMES)
        forms = spellings(folder, name, linked, rng)
        a, b = rng.choice(forms), rng.choice(forms)
        assert paths.same_file(a, b), (a, b)
        with pytest.raises(UserError, match="same file"):
            paths.check_apart({"OUTPUT": a}, {"INPUT": b})
        with pytest.raises(UserError, match="same file"):
            paths.check_apart({"OUTPUT": a, "OUTPUT_PROBABILITIES": b}, {})


def test_spellings_of_different_files_are_never_the_same(tree):
    folder, linked = tree
    rng = random.Random(99)
    for name in NAMES:
        (folder / name).write_bytes(b"x")
    for _ in range(ROUNDS):
        first, second = rng.sample(NAMES, 2)
        a = rng.choice(spellings(folder, first, linked, rng))
        b = rng.choice(spellings(folder, second, linked, rng))
        assert not paths.same_file(a, b), (a, b)
        paths.check_apart({"OUTPUT": a}, {"INPUT": b})  # no error


def test_a_file_symlink_and_a_hard_link_are_the_same_file(tmp_path):
    (tmp_path / "in.tif").write_bytes(b"x")
    (tmp_path / "soft.tif").symlink_to(tmp_path / "in.tif")
    os.link(tmp_path / "in.tif", tmp_path / "hard.tif")
    assert paths.same_file(tmp_path / "soft.tif", tmp_path / "in.tif")
    assert paths.same_file(str(tmp_path / "hard.tif"), f"GPKG:{tmp_path / 'in.tif'}:x")


def test_sources_that_are_no_file_are_never_the_same():
    for source in ("memory:", "TEMPORARY_OUTPUT", "postgres://host/db", "/vsimem/x.tif",
                   "https://example.org/a.tif", "", None):
        assert paths.file_of(source) is None
        assert not paths.same_file(source, source)


def test_case_blind_folder_compares_names_case_blind(tmp_path):
    """On a case-sensitive disk (here) different case is another file; the rule asks the disk."""
    (tmp_path / "In.tif").write_bytes(b"x")
    expected = os.path.exists(tmp_path / "IN.TIF")
    assert paths.same_file(tmp_path / "In.tif", tmp_path / "IN.TIF") is expected


def test_gdal_exceptions_are_on_inside_a_run_and_restored_after():
    """Importing the toolbox leaves GDAL's global exception setting to QGIS and other plugins
    (checked in a fresh Python); inside ``gdal_exceptions`` they are on, and restored after."""
    import subprocess
    import sys
    from pathlib import Path
    plugins = Path(__file__).resolve().parents[2] / "build" / "plugins"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from osgeo import gdal, ogr; "
            "import rsai_toolbox.models.runtime.engine, rsai_toolbox.models.runtime.vectors, "
            "rsai_toolbox.models.landcover_bayes, rsai_toolbox.models.farmland.polygonize, "
            "rsai_toolbox.models.soil.samples, rsai_toolbox.models.seaice.sentinel1; "
            "print(gdal.GetUseExceptions(), ogr.GetUseExceptions())")
    out = subprocess.run([sys.executable, "-c", code, str(plugins)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["0", "0"]
    cycle = ("import sys; sys.path.insert(0, sys.argv[1]); from osgeo import gdal, ogr; "
             "from rsai_toolbox.models.runtime.gdal_exceptions import gdal_exceptions\n"
             "with gdal_exceptions():\n"
             "    print(gdal.GetUseExceptions(), ogr.GetUseExceptions())\n"
             "    try:\n        gdal.Open('/no/such.tif')\n    except RuntimeError:\n"
             "        print('raised')\n"
             "print(gdal.GetUseExceptions(), ogr.GetUseExceptions(), gdal.Open('/no/such.tif'))")
    out = subprocess.run([sys.executable, "-c", cycle, str(plugins)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["1", "1", "raised", "0", "0", "None"]


def test_the_core_check_refuses_one_path_given_twice(tmp_path):
    """Core callers (engine, Dask jobs) pass plain lists: a path given twice is two outputs."""
    from rsai_toolbox.models.runtime.raster import check_outputs
    with pytest.raises(UserError, match="two outputs are the same file"):
        check_outputs([tmp_path / "o.tif", tmp_path / "o.tif"], [])
    with pytest.raises(UserError, match="same file as an input"):
        check_outputs([f"GPKG:{tmp_path / 'a.gpkg'}:x"], [str(tmp_path / "a.gpkg") + "|layername=y"])

"""SCENES -> the scenes of a batch: a folder glob, a text file of paths or GDAL URLs, or a STAC
ItemCollection (one asset per item, chosen by ASSET)."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..errors import UserError

GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Scene:
    name: str  # the prefix of its outputs' names
    source: str  # a path or a GDAL URL (/vsicurl/..., /vsis3/...)
    subfolder: str = ""  # where its outputs go, inside the output folder (row bands)


def list_scenes(scenes: str, asset: str = "") -> list[Scene]:
    text = str(scenes).strip()
    if not text:
        raise UserError("SCENES is empty: give a glob such as tiles/*.tif, a text file with one "
                        "raster path or GDAL URL per line, or a STAC ItemCollection .json.")
    path = Path(text).expanduser()
    if GLOB_CHARACTERS & set(text):
        found = [Scene(Path(p).stem, p) for p in sorted(glob.glob(str(path), recursive=True))
                 if Path(p).is_file()]
        if not found:
            raise UserError(f"SCENES {text} matches no file; check the folder and the pattern "
                            "(e.g. tiles/*.tif).")
        return _unique(found)
    if path.is_dir():
        raise UserError(f"SCENES {text} is a folder; add a pattern for the rasters in it, e.g. "
                        f"{path / '*.tif'}.")
    if not path.is_file():
        raise UserError(f"SCENES {text} does not exist; give a glob, a text file of paths or a "
                        "STAC ItemCollection .json.")
    if path.suffix.lower() in (".json", ".geojson"):
        return _unique(stac_scenes(path, asset))
    if not _is_text(path):  # one raster (a GeoTIFF, a VRT ...): a batch of one
        return [Scene(path.stem, str(path))]
    return _unique([Scene(_name_of(line), _located(line, path.parent))
                    for line in _lines(path)])


def stac_scenes(path: Path, asset: str) -> list[Scene]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"SCENES {path} is not readable JSON ({exc}); give a STAC "
                        "ItemCollection.")
    items = document.get("features") if isinstance(document, dict) else None
    if document.get("type") == "Feature" if isinstance(document, dict) else False:
        items = [document]
    if not isinstance(items, list) or not items:
        raise UserError(f"SCENES {path} is JSON but not a STAC ItemCollection with items "
                        "(a FeatureCollection whose features have assets).")
    scenes = []
    for index, item in enumerate(items):
        assets = item.get("assets") or {}
        name = str(item.get("id") or f"item{index + 1}")
        key = asset or (next(iter(assets)) if len(assets) == 1 else "")
        if key not in assets:
            raise UserError(f"STAC item {name} has assets {', '.join(assets) or 'none'}; set "
                            f"ASSET to the one to run{f' (not {asset!r})' if asset else ''}.")
        scenes.append(Scene(name, _located(assets[key]["href"], path.parent)))
    return scenes


def _is_text(path: Path) -> bool:
    if path.suffix.lower() == ".vrt":
        return False
    head = path.read_bytes()[:4096]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


def _lines(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace")
             .splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise UserError(f"SCENES {path} lists no raster; write one path or GDAL URL per line.")
    return lines


def _located(reference: str, folder: Path) -> str:
    """A GDAL-readable name: http(s) and s3 URLs through GDAL's virtual file systems,
    relative paths from the listing's folder."""
    scheme = urlsplit(reference).scheme.lower()
    if scheme in ("http", "https"):
        return f"/vsicurl/{reference}"
    if scheme == "s3":
        return f"/vsis3/{reference[5:]}"
    if scheme == "file":
        return urlsplit(reference).path
    if reference.startswith("/vsi") or Path(reference).is_absolute():
        return reference
    return str(folder / reference)


def _name_of(reference: str) -> str:
    stem = PurePosixPath(urlsplit(reference).path or reference).stem
    return stem or "scene"


def _unique(scenes: list[Scene]) -> list[Scene]:
    seen: dict[str, Scene] = {}
    for scene in scenes:
        if scene.name in seen:
            raise UserError(f"two scenes are named {scene.name} ({seen[scene.name].source} and "
                            f"{scene.source}) and their outputs would collide; rename one or run "
                            "them in separate OUTPUT_FOLDERs.")
        seen[scene.name] = scene
    return scenes

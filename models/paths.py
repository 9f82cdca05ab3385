"""Which file a path or a GDAL/OGR/QGIS source string names, and whether two of them are the same
file: the one check that keeps every tool from writing over an input or over another output.

A user can spell one file many ways: relative or absolute, through a symbolic link, in another
case on a case-insensitive disk, or as a source string (``GPKG:fields.gpkg:parcels``,
``ogr:dbname='fields.gpkg' table="x"``, ``fields.gpkg|layername=x``, ``/vsizip/data.zip/a.tif``,
``file:///...``). ``file_of`` reduces each to the file on disk; ``same_file`` compares two.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlparse

from .errors import UserError

# /vsizip/, /vsigzip/, /vsitar/, /vsi7z/ ... name a file inside an archive: the archive is the file.
_ARCHIVES = re.compile(r"^/vsi(zip|gzip|tar|7z|rar)/+", re.IGNORECASE)
_ARCHIVE_FILE = re.compile(r"^(.*?\.(zip|gz|tgz|tar|7z|rar|kmz|docx|xlsx|ods))(/|$)", re.IGNORECASE)
_DRIVER_PREFIX = re.compile(r"^(GPKG|SQLITE|NETCDF|HDF5|HDF4|GTIFF_DIR|NITF_IM|RASTERLITE):"
                            r"(?P<rest>.*)$", re.IGNORECASE)
_OGR_DBNAME = re.compile(r"""^(?:ogr:)?dbname=(?:'(?P<quoted>(?:[^']|'')*)'|(?P<plain>\S+))""")
_NOT_FILES = ("memory:", "postgres:", "postgresql:", "pg:", "mysql:", "oci:", "mssql:", "wfs:",
              "wms:", "http://", "https://", "ftp://", "/vsicurl", "/vsis3", "/vsigs", "/vsiaz",
              "/vsimem", "/vsistdin", "/vsistdout", "temporary_output")


def file_of(source) -> str | None:
    """The file on disk that ``source`` (a path or a source string) reads or writes, as given
    (not yet made absolute); None when it names no local file (memory, database, web)."""
    if source is None:
        return None
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    text = text.strip()
    if not text or text.lower().startswith(_NOT_FILES):
        return None
    if text.lower().startswith("file://"):
        text = unquote(urlparse(text).path)
    archive = _ARCHIVES.match(text)
    if archive:
        inner = "/" + text[archive.end():]
        found = _ARCHIVE_FILE.match(inner)
        return found.group(1) if found else inner
    if text.lower().startswith("/vsi"):  # /vsisubfile/, /vsicached?/ and friends: the path follows
        text = re.sub(r"^/vsi[a-z_]+/(\d+_\d+,)?", "/", text, flags=re.IGNORECASE)
    dbname = _OGR_DBNAME.match(text)
    if dbname:
        text = dbname["quoted"].replace("''", "'") if dbname["quoted"] is not None \
            else dbname["plain"]
    driver = _DRIVER_PREFIX.match(text)
    if driver:
        text = _driver_file(driver["rest"])
    text = text.split("|", 1)[0]  # QGIS's "file.gpkg|layername=x"
    return text.strip().strip('"') or None


def _driver_file(rest: str) -> str:
    """``file:layer`` or ``"file":layer`` after a driver prefix (a Windows drive letter is
    part of the file)."""
    if rest.startswith('"'):
        end = rest.find('"', 1)
        return rest[1:end] if end > 0 else rest[1:]
    drive = re.match(r"^[A-Za-z]:[\\/]", rest)
    start = 2 if drive else 0
    colon = rest.find(":", start)
    return rest if colon < 0 else rest[:colon]


def canonical(path: str) -> str:
    """The absolute, link-free spelling of ``path`` (the file need not exist), in the case the
    platform compares names in."""
    return os.path.normcase(os.path.realpath(os.path.abspath(os.path.expanduser(path))))


def same_file(a, b) -> bool:
    """True when the paths or source strings ``a`` and ``b`` name one file on disk."""
    fa, fb = file_of(a), file_of(b)
    if fa is None or fb is None:
        return False
    if os.path.exists(fa) and os.path.exists(fb):
        try:
            return os.path.samefile(fa, fb)  # links, hard links and case-insensitive disks
        except OSError:
            pass
    ca, cb = canonical(fa), canonical(fb)
    if ca == cb:
        return True
    # Not yet existing: compare the file names case-blind where the folder is case-blind.
    parent_a, parent_b = os.path.dirname(ca), os.path.dirname(cb)
    if os.path.basename(ca).lower() == os.path.basename(cb).lower() and os.path.isdir(parent_a) \
            and os.path.isdir(parent_b) and os.path.samefile(parent_a, parent_b):
        return _case_blind(parent_a)
    return False


def _case_blind(folder: str) -> bool:
    """Whether ``folder``'s file system ignores case (checked on the folder itself)."""
    upper, lower = folder.upper(), folder.lower()
    if upper == lower:
        return False
    try:
        return os.path.exists(upper) and os.path.exists(lower) and os.path.samefile(upper, lower)
    except OSError:
        return False


def check_apart(outputs: Mapping[str, object], inputs: Mapping[str, object]) -> None:
    """Refuse, before any work, an output that is the same file as an input or as another output.

    ``outputs`` and ``inputs`` map a parameter name to a path or source string (None or empty:
    not given). Raises UserError naming both parameters and the fix.
    """
    given_inputs = [(name, value) for name, value in inputs.items() if file_of(value)]
    given_outputs = [(name, value) for name, value in outputs.items() if file_of(value)]
    for index, (name, value) in enumerate(given_outputs):
        for input_name, input_value in given_inputs:
            if same_file(value, input_value):
                raise UserError(
                    f"{name} ({file_of(value)}) is the same file as an input, {input_name} "
                    f"({file_of(input_value)}); writing it would destroy that input. Choose "
                    f"another file for {name}.")
        for other_name, other_value in given_outputs[:index]:
            if same_file(value, other_value):
                raise UserError(
                    f"two outputs are the same file: {name} and {other_name} "
                    f"({file_of(value)}); one would overwrite the other. Give {name} its own "
                    "file name.")


def check_destination(name: str, path: str, extensions: tuple[str, ...], what: str) -> str:
    """Check an output file name before any work: not a folder, an extension the tool writes
    (``extensions`` like ``(".tif", ".tiff")``, the first one the default). A name without an
    extension gets the default one; the checked path is returned."""
    target = file_of(path) or path
    if os.path.isdir(target):
        raise UserError(f"{name} ({target}) is an existing folder; give a file name inside it, "
                        f"e.g. {Path(target) / ('output' + extensions[0])}.")
    suffix = Path(target).suffix.lower()
    if not suffix:
        return path + extensions[0] if target == path else path
    if suffix not in extensions:
        raise UserError(f"{name} ({target}) ends in {suffix}, but this {what} is written as "
                        f"{' or '.join(extensions)}; change the extension to "
                        f"{extensions[0]}.")
    return path

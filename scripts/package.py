#!/usr/bin/env python3
"""``make package``: the zip plugins.qgis.org accepts, built from an explicit list of what the
plugin needs at run time (top folder rsai_toolbox/; no tests, benchmarks, scripts or caches).

Usage: python3 scripts/package.py [--output dist/rsai_toolbox-<version>.zip]
"""
import argparse
import configparser
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP = "rsai_toolbox"
FILES = ("metadata.txt", "LICENSE", "__init__.py", "requirements/runtime.txt",
         "requirements/onnx.txt", "requirements/torch.txt")
# (folder, patterns): every file matching, recursively, except caches.
TREES = (("plugin", ("*.py",)), ("installer", ("*.py",)), ("processing_provider", ("*.py",)),
         ("models", ("*.py", "cards/*.json")),
         ("resources", ("*.svg", "*.png", "*.qml", "*.model3")),
         ("docs/tools", ("*.md", "*.png")))
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", "tests", ".venv", "build"}


def version() -> str:
    parser = configparser.ConfigParser()
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"]


def plugin_files() -> list[Path]:
    files = {REPO / name for name in FILES}
    for folder, patterns in TREES:
        for pattern in patterns:
            for path in (REPO / folder).rglob(pattern):
                relative = path.relative_to(REPO)
                if path.is_file() and not EXCLUDED_PARTS & set(relative.parts):
                    files.add(path)
    missing = [str(p.relative_to(REPO)) for p in files if not p.is_file()]
    if missing:
        raise SystemExit(f"package: missing {', '.join(missing)}")
    return sorted(files)


def build(output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files():
            archive.write(path, f"{TOP}/{path.relative_to(REPO).as_posix()}")
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path,
                        default=REPO / "dist" / f"{TOP}-{version()}.zip")
    output = build(parser.parse_args().output)
    with zipfile.ZipFile(output) as archive:
        count = len(archive.namelist())
    print(f"{output} ({count} files, {output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

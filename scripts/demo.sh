#!/usr/bin/env bash
# The tools headless on generated inputs; prints where every output is.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/build/demo"
rm -rf "$out"; mkdir -p "$out"
export QGIS_CUSTOM_CONFIG_PATH="${QGIS_CUSTOM_CONFIG_PATH:-$PWD/build/qgis-profile}"
export RSAI_CACHE_DIR="${RSAI_CACHE_DIR:-$PWD/build/weights-cache}"
mkdir -p build/plugins; [ -e build/plugins/rsai_toolbox ] || ln -sfn "$PWD" build/plugins/rsai_toolbox
.venv/bin/python scripts/demo_inputs.py "$out"

echo "== rsai:run_model: land cover of a generated 4-band scene"
scripts/qgis_process run rsai:run_model -- INPUT="$out/scene.tif" MODEL="$out/demo_landcover.onnx" \
  OUTPUT="$out/landcover.tif" OUTPUT_PROBABILITIES="$out/landcover_probabilities.tif" 2>/dev/null \
  | sed -n '/^Model\|^Demo\|Warning/p'

for extra in scripts/demo.d/*.sh; do [ -e "$extra" ] && source "$extra"; done

echo
echo "Outputs (open them in QGIS; each .qml beside a raster is its style):"
ls -1 "$out"/*.tif "$out"/*.gpkg "$out"/*.html "$out"/*.csv 2>/dev/null | sed 's/^/  /'

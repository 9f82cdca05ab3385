#!/usr/bin/env bash
# The tools headless on generated inputs; prints where every output is. A step that fails stops
# the demo and shows the end of its output (the full log is in build/demo/logs/).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/build/demo"
rm -rf "$out"; mkdir -p "$out/logs"
export QGIS_CUSTOM_CONFIG_PATH="${QGIS_CUSTOM_CONFIG_PATH:-$PWD/build/qgis-profile}"
export RSAI_CACHE_DIR="${RSAI_CACHE_DIR:-$PWD/build/weights-cache}"
mkdir -p build/plugins; [ -e build/plugins/rsai_toolbox ] || ln -sfn "$PWD" build/plugins/rsai_toolbox

# step TITLE FILTER COMMAND...: run COMMAND with its output in $out/logs/; print the lines that
# match the extended regex FILTER; on failure print the last lines of the log and stop.
step() {
  local title="$1" filter="$2"; shift 2
  local log="$out/logs/$(tr -c 'A-Za-z0-9_.-' '_' <<<"$title" | sed 's/_*$//').log"
  echo "== $title"
  if "$@" >"$log" 2>&1; then
    # (qgis_process's progress dots, "0...10...", precede the first log line: dropped)
    sed -E 's/^([0-9]+\.\.\.?)+//' "$log" | grep -E "$filter" || true
  else
    local code=$?
    echo "!! $title failed (exit code $code): $*" >&2
    echo "!! last lines of $log:" >&2
    tail -n 30 "$log" | sed 's/^/   /' >&2
    exit "$code"
  fi
}

step "generate the demo inputs" "^demo inputs" .venv/bin/python scripts/demo_inputs.py "$out"
step "rsai:run_model: land cover of a generated 4-band scene" "^Model |^WARNING" \
  scripts/qgis_process run rsai:run_model -- INPUT="$out/scene.tif" \
  MODEL="$out/demo_landcover.onnx" OUTPUT="$out/landcover.tif" \
  OUTPUT_PROBABILITIES="$out/landcover_probabilities.tif"

for extra in scripts/demo.d/*.sh; do [ -e "$extra" ] && source "$extra"; done

echo
echo "Outputs (open them in QGIS; each .qml beside a raster is its style):"
ls -1 "$out"/*.tif "$out"/*.gpkg "$out"/*.html "$out"/*.csv 2>/dev/null | sed 's/^/  /'

#!/usr/bin/env bash
# The whole pipeline on the built-in sample area, sized for a 2-core CPU.
set -euo pipefail
workspace=${1:-demo}
geosiam=${GEOSIAM:-.venv/bin/geosiam}
"$geosiam" prepare --years 2000 2015 --sample --workspace "$workspace"

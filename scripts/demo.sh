#!/usr/bin/env bash
# The whole pipeline on the built-in sample area, sized for a 2-core CPU (5.5-8 minutes measured):
# prepare -> train the fused model -> train an image-only model -> embed -> evaluate.
# Run it again after an interruption: every stage skips what is complete and resumes the rest.
set -euo pipefail
workspace=${1:-demo}
geosiam=${GEOSIAM:-.venv/bin/geosiam}

# The CPU recipe: MobileNetV3Small from scratch (nothing to download) at the sample's 64 px,
# symmetric InfoNCE over batches of 64 distinct places whose hard neighbours (mined every
# 5 epochs) share their batch, learning rate 1e-3 decaying along a cosine.
recipe=(--weights none --loss infonce --batch-anchors 64 --lr 1e-3 --lr-schedule cosine --mine-every 5)

train() {  # train RUN OPTIONS...: a new run, or the rest of an interrupted one
    local run=$1
    shift
    local resume=()
    if [[ -f "$workspace/runs/$run/geosiam.toml" ]]; then
        resume=(--resume)
    fi
    "$geosiam" train --workspace "$workspace" --run "$run" "${resume[@]}" "${recipe[@]}" "$@"
}

"$geosiam" prepare --years 2000 2015 --sample --workspace "$workspace"
train fused --epochs 30
# the ablation gets half the epochs to keep the demo within 10 minutes: images alone learn slowly
# from scratch (test MAP@5 0.20 after 15 epochs, 0.67 after 40; README, *Measured*)
train image-only --image-only --epochs 15
"$geosiam" embed "$workspace/tiles.gpkg" --output "$workspace/vectors.npy" --run fused \
    --workspace "$workspace"
"$geosiam" eval --run fused --image-only-run image-only --workspace "$workspace"
echo "figures beside the report; descriptors of every tile: $workspace/vectors.npy"

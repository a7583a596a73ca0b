#!/usr/bin/env bash
# The whole pipeline on the built-in sample area, sized for a 2-core CPU:
# prepare -> train ONE network with modality dropout -> embed -> evaluate it fused, fused vs
# image-only and image-only, beside the raw-pixel baselines.
#   scripts/demo.sh [WORKSPACE]               the demo (make demo), within 10 minutes on 2 cores
#   scripts/demo.sh [WORKSPACE] --ablations   then the image-only and mask-only networks on the
#                                             same recipe and budget, and eval again (make ablations)
# Run it again after an interruption: every stage skips what is complete and resumes the rest.
set -euo pipefail
workspace=${1:-demo}
ablations=${2:-}
geosiam=${GEOSIAM:-.venv/bin/geosiam}

# The CPU recipe: MobileNetV3Small from scratch (nothing to download) at the sample's 64 px,
# symmetric InfoNCE over batches of 64 distinct places whose hard neighbours (mined every
# 5 epochs) share their batch, learning rate 1e-3 decaying along a cosine, 30 epochs. The
# backbone is named: left to auto, a GPU would pick ResNet50, which this recipe is not made for.
recipe=(--backbone mobilenetv3small --weights none --loss infonce --batch-anchors 64 --lr 1e-3 --lr-schedule cosine --mine-every 5
    --epochs 30)

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
# one network for fused and image-only inputs: half the pairs lose the mask of one side
train fused --mask-dropout 0.5
if [[ "$ablations" == "--ablations" ]]; then
    train image-only --image-only
    train mask-only --mask-only
fi
"$geosiam" embed "$workspace/tiles.gpkg" --output "$workspace/vectors.npy" --run fused \
    --workspace "$workspace"
# eval finds the image-only and mask-only runs by itself when they exist
"$geosiam" eval --run fused --workspace "$workspace"
echo "figures beside the report; descriptors of every tile: $workspace/vectors.npy"

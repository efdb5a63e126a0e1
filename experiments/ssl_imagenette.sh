#!/usr/bin/env bash
# Issue 4: SimCLR-pretrain a ResNet-18 on the Imagenette-160 training images (labels unused),
# then compare its frozen features with a random ResNet-18 by k-NN and a linear probe on the
# validation images. About 40 minutes of pretraining on 2 CPU cores. Results: docs/results.md.
set -euo pipefail
data="${CONDET_SHARED_DATA:-../shared/data}/imagenette2-160"
out="${OUT:-runs/exp}"

condet pretrain --data "$data/train" --backbone resnet18 --image-size 64 --batch-size 128 \
    --epochs 15 --lr 0.12 --checkpoint-every 50 --out "$out/simclr-imagenette-r18"

for weights in "$out/simclr-imagenette-r18" random; do
    condet evaluate-features --backbone resnet18 --weights "$weights" --image-size 64 \
        --train "$data/train" --test "$data/val" --methods knn ncm linear --k 200 \
        --out "$out/features-imagenette-$(basename "$weights")"
done
